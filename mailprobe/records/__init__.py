"""Policy and discovery records, parsed: SPF, DMARC, MTA-STS (TXT and policy), TLS-RPT, DKIM, TLSA.

Pure functions from record text to frozen facts with their parse errors. This package imports nothing
else of mailprobe: the DNS stage runs each parser once and stores the result in the report
(`DnsRecord.parsed`); the checks read those objects and never parse record text again.
"""
