from django.core.paginator import Paginator
from django.http import HttpRequest
from django.utils.functional import cached_property

# Lists count at most this many items: an exact COUNT of a large match reads all of it on every
# page view (counting to 10,000 was 20 ms of a filtered list at 100,000 incidents). Past the cap
# the page says "1000+ found" and offers pages up to the cap; filters narrow further.
COUNT_CAP = 1_000


class CappedPaginator(Paginator):
    """A Paginator whose count stops at `cap` (then `capped` is True), in one cheap query."""

    def __init__(self, *args, cap: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.cap = COUNT_CAP if cap is None else cap
        self.capped = False

    @cached_property
    def count(self) -> int:
        items = self.object_list
        if hasattr(items, "values"):  # a QuerySet: SELECT COUNT(*) FROM (SELECT id … LIMIT cap + 1)
            found = items.order_by().values("pk")[: self.cap + 1].count()
        else:
            found = len(items)
        self.capped = found > self.cap
        return min(found, self.cap)


def paginate(request: HttpRequest, items, per_page: int) -> dict:
    """The context templates/_pagination.html needs: the requested `page` (a bad or too large
    number gives a real page) and `query`, the filters of this list without `page`, so the
    Previous/Next links keep them. Counts stop at COUNT_CAP (`page.paginator.capped`)."""
    query = request.GET.copy()
    query.pop("page", None)
    return {"page": CappedPaginator(items, per_page).get_page(request.GET.get("page")), "query": query.urlencode()}
