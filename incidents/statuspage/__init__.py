"""The public status page: what the public may know (projection.py, the only reader of
incidents here), its pages and Atom feed (views.py, urls.py).

Imports the core only. A postmortem summary reaches it through incidents/panels.py's
public summary providers (reviews registers one), never by importing reviews.
"""
