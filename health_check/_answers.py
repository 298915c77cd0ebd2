"""The responses the read path sends, built from a rendered ``Body``: 200/500, 304, 403, 406, HEAD.

Every answer goes through ``answer()``, so a HEAD answer carries no body and the Content-Length GET
would have, whichever status it has.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.template.response import TemplateResponse

from health_check._request import not_modified
from health_check.renderers import ANCHOR_RENDERERS, DEFAULT_RENDERERS, HTMLRenderer, Renderer

__all__ = [
    "Body",
    "RenderedTemplateResponse",
    "answer",
    "bad_request",
    "drop_body",
    "finish_answer",
    "forbidden",
    "mark_logged",
    "not_acceptable",
    "ready",
    "request_view",
    "template_answer",
]


class Body:
    """One rendered answer: bytes, headers, the HTML context, and the second it was rendered for."""

    __slots__ = ("body", "context", "headers", "second")

    def __init__(self, body: bytes, headers: dict[str, str], second: int, context: dict[str, Any] | None) -> None:
        self.body = body
        self.headers = headers
        self.second = second
        self.context = context


def forbidden(request: HttpRequest) -> HttpResponse:
    response = answer(request, b"Authentication failed", 403, "text/plain; charset=utf-8")
    response["Vary"] = "Authorization"
    response["Cache-Control"] = "no-store"
    return response


def bad_request(request: HttpRequest, text: str) -> HttpResponse:
    """400 for a request our endpoint cannot answer as asked (``?check=`` naming no check), in plain words."""
    response = answer(request, text.encode(), 400, "text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


def not_acceptable(request: HttpRequest, renderers: tuple[type[Renderer], ...]) -> HttpResponse:
    """406 as django-health-check answers it: ``text/plain``, its six types for the default renderers
    (health+json and the badges are served, not listed).

    A project's own ``renderers=`` are listed as they are, in their order.
    """
    if renderers == DEFAULT_RENDERERS:
        listed = [renderer.media_type for renderer in renderers if renderer in ANCHOR_RENDERERS]
    else:
        listed = [renderer.media_type for renderer in renderers]
    body = f"Not Acceptable: Supported content types: {', '.join(listed)}".encode()
    return answer(request, body, 406, "text/plain")


def finish_answer(request: HttpRequest, body: Body, status: int, renderer: type[Renderer]) -> HttpResponse:
    """``body`` as the answer to ``request``: 304 when a conditional GET matches its validators."""
    headers = body.headers
    if renderer.conditional and not_modified(request.META, headers):
        response = HttpResponse(status=304)
        if request.method == "HEAD":
            # What the 200 would carry (RFC 9110 §8.6), rather than the "0" CommonMiddleware adds. Not
            # on GET: uvicorn's httptools protocol then waits for that many bytes of a 304 and fails.
            response["Content-Length"] = str(len(body.body))
    else:
        response = answer(request, body.body, status, renderer.content_type)
        if status >= 500:
            mark_logged(response)
    for name, value in headers.items():
        response[name] = value
    return response


class RenderedTemplateResponse(TemplateResponse):
    """A ``TemplateResponse`` born rendered: what ``render_to_response()`` returns after ``render()``.

    Sets what ``SimpleTemplateResponse.__init__`` sets, without its empty first content (a few µs per
    probe); ``render()`` is a no-op, ``rendered_content`` renders the template again as usual.
    """

    def __init__(
        self, request: HttpRequest, template: list[str], context: dict[str, Any], content: bytes, status: int
    ) -> None:
        HttpResponse.__init__(self, content, content_type=HTMLRenderer.content_type, status=status)
        self.template_name = template
        self.context_data = context
        self.using = None
        self._post_render_callbacks: list[Any] = []
        self._request = request
        self._is_rendered = True


def template_answer(
    request: HttpRequest,
    view: Any,
    body: Body,
    status: int,
    args: tuple[Any, ...] = (),
    kwargs: dict[str, Any] | None = None,
) -> TemplateResponse:
    """The page as ``render_to_response()`` makes it, already rendered (its bytes are the state's).

    ``view`` is the endpoint's prototype ``HealthCheckView``: its template, stylesheet and CSP. The
    context's ``view`` is a copy of it set up with this request, as ``TemplateView`` puts its instance
    there (the default template reads none of it, so the shared bytes stay true).
    """
    context = dict(body.context or {})
    context["stylesheet"] = view.stylesheet
    context["view"] = request_view(view, request, args, kwargs or {})
    head = request.method == "HEAD"
    response = RenderedTemplateResponse(request, [view.template_name], context, b"" if head else body.body, status)
    if head:
        response["Content-Length"] = str(len(body.body))
    if status >= 500:
        mark_logged(response)
    view._apply_csp(response)
    return response


def request_view(prototype: Any, request: HttpRequest, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A view of ``prototype``'s class and attributes, set up with ``request`` (no ``__init__`` again)."""
    instance = object.__new__(type(prototype))
    instance.__dict__.update(prototype.__dict__)
    instance.setup(request, *args, **kwargs)
    return instance


def mark_logged(response: HttpResponseBase) -> None:
    """A failing check's 500 is the answer's content, not a server error: Django's request logger must skip it.

    Without this, ``django.request`` writes "Internal Server Error" at ERROR for every probe, and with
    ``ADMINS`` set ``mail_admins`` sends one e-mail per probe; the poller logs each change once instead
    (``health_check.recorder``). Only answers built here are marked: an exception raised in the view is
    still logged. ``_has_been_logged`` is what ``django.utils.log.log_response()`` checks first.
    """
    setattr(response, "_has_been_logged", True)  # noqa: B010 - Django's own private flag, set as Django sets it


def drop_body(response: Any) -> None:
    """A post-render callback for HEAD: no body, and the Content-Length GET would have."""
    length = len(response.content)
    response.content = b""
    response["Content-Length"] = str(length)


def answer(request: HttpRequest, body: bytes, status: int, content_type: str) -> HttpResponse:
    """``body`` for GET; for HEAD no body and the Content-Length GET would have (RFC 9110 §9.3.2).

    The length is set here because middleware cannot know it: CommonMiddleware would count the empty
    HEAD content and announce ``Content-Length: 0``. Every HEAD answer (403, 406, 200, 500) goes
    through here, so none carries a body even behind a server that does not strip HEAD bodies.
    """
    if request.method != "HEAD":
        return HttpResponse(body, content_type=content_type, status=status)
    response = HttpResponse(b"", content_type=content_type, status=status)
    response["Content-Length"] = str(len(body))
    return response


async def ready(response: Any) -> Any:
    """``response`` as an awaitable: what an ``async def`` hook returns."""
    return response
