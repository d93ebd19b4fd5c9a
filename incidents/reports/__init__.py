"""Reports for managers and responders (/reports/): response-time trends, impact per service, the
learning loop and their CSV export. Reads the core only; reviews add their section through
`incidents.panels.register_report_section`."""
