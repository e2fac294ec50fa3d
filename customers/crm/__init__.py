"""Import customers from a CRM export (CSV) into profiles: who they are, what they are worth.

``goodwill profiles import customers.csv`` reads a HubSpot or Salesforce contact export,
or any CSV with a mapping file, and links each row to the profile of the same person.
The work is split in three modules:

* ``mapping``: which columns hold which fields (presets, detection, TOML mapping files);
* ``rows``: one row parsed and checked (bad rows rejected with their number and
  reason), duplicates within a file, and a row applied to a profile document;
* ``importer``: the run (``import_csv``): streaming the file, matching rows to profiles
  in idempotent batches, merge proposals, and the ``ImportReport``.

Each module's docstring says what it promises; this package re-exports what callers use.
"""

from customers.crm.importer import BATCH_SIZE, ImportReport, import_csv
from customers.crm.mapping import (
    HANDLE_SOURCES,
    MAPPING_FIELDS,
    PRESETS,
    ColumnMapping,
    detect_preset,
    load_mapping,
)
from customers.crm.rows import RowProblem
from goodwill.errors import CrmImportError

__all__ = [
    "BATCH_SIZE",
    "HANDLE_SOURCES",
    "MAPPING_FIELDS",
    "PRESETS",
    "ColumnMapping",
    "CrmImportError",
    "ImportReport",
    "RowProblem",
    "detect_preset",
    "import_csv",
    "load_mapping",
]
