"""Complaint texts of three plainly different themes, for the themes tests."""

from __future__ import annotations

LUGGAGE = [
    "@acme lost my luggage again, my suitcase never arrived at the baggage claim",
    "@acme my bag is lost, three days and still no suitcase, baggage desk useless",
    "@acme where is my luggage? the baggage claim had nothing, suitcase missing",
    "@acme you lost my suitcase on the flight to Denver, baggage still not found",
    "@acme lost baggage claim filed a week ago, my luggage is still missing",
    "@acme my checked bag never showed up at the carousel, lost luggage again",
    "@acme suitcase lost in transit, baggage office cannot tell me where it is",
    "@acme second time this month you lost my luggage, bag missing at baggage claim",
    "@acme my luggage was left behind and nobody knows where my suitcase is",
    "@acme baggage claim empty, lost my bag with all my clothes in the suitcase",
]
REFUND = [
    "@acme still waiting for my refund, you charged my card twice for one ticket",
    "@acme refund promised six weeks ago and my credit card was never refunded",
    "@acme double charged on my card and no refund yet, give me my money back",
    "@acme where is my refund? the charge is still on my credit card statement",
    "@acme you billed my card twice and refused the refund, I want my money back",
    "@acme refund request ignored for a month, charged my card for a cancelled ticket",
    "@acme overcharged on my credit card and still no refund after many emails",
    "@acme I was charged twice, refund still pending, money not back on my card",
    "@acme my refund never arrived, the card charge was not reversed",
    "@acme charged my card a fee I never agreed to and no refund",
]
APP = [
    "@acme your app keeps crashing when I try to log in, cannot sign in at all",
    "@acme the app crashes on login every time since the update, password rejected",
    "@acme cannot log in to the app, it freezes and crashes on the sign in screen",
    "@acme app update broke login, it crashes whenever I open it",
    "@acme the app won't let me sign in, login error and then it crashes",
    "@acme your website and app are down, login page crashes with an error",
    "@acme login keeps failing in the app, says password wrong then crashes",
    "@acme app crashed again when logging in, I am locked out of my account",
    "@acme since the new version the app crashes at login, cannot access my account",
    "@acme app login broken, crashes on startup and will not sign me in",
]
TOPICS = {"luggage": LUGGAGE, "refund": REFUND, "app": APP}
