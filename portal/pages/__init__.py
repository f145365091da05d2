"""The pages that see across the apps: the dashboard, reports and the jobs page.

They sit above ``accounts`` and ``casework`` and read from both; nothing below imports them
(``make lint`` checks it with import-linter).
"""
