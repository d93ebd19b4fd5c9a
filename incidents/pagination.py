from django.core.paginator import Paginator
from django.http import HttpRequest


def paginate(request: HttpRequest, items, per_page: int) -> dict:
    """The context templates/_pagination.html needs: the requested `page` (a bad or too large
    number gives a real page) and `query`, the filters of this list without `page`, so the
    Previous/Next links keep them."""
    query = request.GET.copy()
    query.pop("page", None)
    return {"page": Paginator(items, per_page).get_page(request.GET.get("page")), "query": query.urlencode()}
