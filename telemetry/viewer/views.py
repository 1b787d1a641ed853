"""The trace viewer (staff holding the permissions of ``telemetry.access``): search, one
trace as a waterfall, two traces compared, and a trace downloaded or loaded as OTLP JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import cast

from django.conf import settings
from django.contrib import messages
from django.forms.utils import ErrorDict
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from instrumentation.context import untraced
from telemetry.access import LOAD_TRACES, VIEW_TRACES, staff_with_permission
from telemetry.diagnosis.analysis import analyze
from telemetry.diagnosis.text import diagnosis_text
from telemetry.models import Span
from telemetry.selectors import (
    operation_names,
    service_names,
    similar_traces,
    trace_logs,
    trace_order_ids,
    trace_page_spans,
    trace_sampling,
    trace_search,
    trace_search_page,
    trace_spans,
)
from telemetry.store.exporter import store_spans
from telemetry.templatetags.telemetry_tags import drawn_rows
from telemetry.tree import SpanTree
from telemetry.viewer.compare import compare_traces
from telemetry.viewer.forms import TraceSearchForm, TraceUploadForm
from telemetry.viewer.noise import HIDE, PARAMETER, SHOW, hide_noise, noise
from telemetry.viewer.otlp import OtlpError, read_otlp, to_otlp
from telemetry.viewer.overview import flame_graph, minimap
from telemetry.viewer.serializers import search_page, trace_spans_json, wants_json
from telemetry.viewer.stats import trace_stats
from telemetry.viewer.waterfall import find_spans, root_cause, service_colour, span_row, waterfall

PER_PAGE = 25
MAX_SUBTREES = 500  # folded spans unfolded by one request ("unfold all")


def order_admin_url(order_id: str) -> str:
    # A URL string, not a reverse() of the orders admin: telemetry depends on no domain app.
    return f"/admin/orders/order/{order_id}/change/"


@staff_with_permission(VIEW_TRACES)
def trace_list(request: HttpRequest) -> HttpResponse:
    """Search: filters in the query string, one page of matching traces; ``?format=json``
    gives the page's results as JSON (an invalid filter: 400 with the form's errors)."""
    form = TraceSearchForm(request.GET)
    hiding = hide_noise(request)
    page, hidden = None, 0
    if form.is_valid():
        query = form.to_query()
        if hiding:
            rules = noise()
            shown = replace(
                query, exclude_root_names=rules.root_names, exclude_root_prefixes=rules.root_prefixes
            )
            page = trace_search_page(shown, request.GET.get("page"), PER_PAGE)
            with untraced():  # one count more, so the toggle can say what the filter hides
                hidden = trace_search(query).count() - page.paginator.count
        else:
            page = trace_search_page(query, request.GET.get("page"), PER_PAGE)
    if wants_json(request):
        if page is None:
            # Form.errors (the form's declared "errors" field shadows it for the type checker only).
            errors = cast(ErrorDict, form.errors)
            return JsonResponse({"errors": errors.get_json_data()}, status=400)
        return JsonResponse(search_page(page))
    filtered = form.is_bound and any(
        value for key, value in request.GET.items() if key not in ("page", "sort", PARAMETER)
    )
    context = {
        "form": form,
        "page": page,
        "services": [(name, service_colour(name)) for name in service_names()],
        "operations": operation_names(),
        "attribute_texts": form.attribute_texts(),
        "upload_form": TraceUploadForm(),
        "noise": {"hidden": hiding, "count": hidden, "parameter": PARAMETER, "hide": HIDE, "show": SHOW},
        "filtered": filtered,
    }
    return render(request, "telemetry/trace_list.html", context)


@staff_with_permission(VIEW_TRACES)
def trace_detail(request: HttpRequest, trace_id: str) -> HttpResponse:
    """One trace: header, why it was kept (sampling), root cause, statistics, waterfall with
    each span's details and logs; ``?format=json`` gives its stored spans as JSON."""
    trace_id = trace_id.lower()
    if wants_json(request):
        spans = _spans_or_404(trace_id)
        return JsonResponse(trace_spans_json(trace_id, spans), json_dumps_params={"indent": 1})
    spans = _spans_or_404(trace_id, read=trace_page_spans)
    # A large trace is drawn in part unless asked for whole (``?all=1``, the "draw all" links).
    tree = SpanTree(spans)  # one tree for the waterfall, the diagnosis and the statistics
    view = waterfall(
        tree, trace_logs(trace_id), draw_all=request.GET.get("all") == "1", show=request.GET.get("show", "")
    )
    diagnosis = analyze(tree)
    context = {
        "trace_id": trace_id,
        "view": view,
        "diagnosis": diagnosis.to_dict(),
        "diagnosis_text": diagnosis_text(diagnosis),
        "stats": trace_stats(tree),
        "minimap": minimap(tree),
        "flame": flame_graph(tree),
        "orders": [(order_id, order_admin_url(order_id)) for order_id in trace_order_ids(spans)],
        "similar": similar_traces(view.rows[0].span.name, exclude=trace_id) if view.rows else [],
        "sampling": trace_sampling(trace_id, spans),
        "tail_enabled": settings.TELEMETRY_TAIL_SAMPLING,
    }
    return render(request, "telemetry/trace_detail.html", context)


@staff_with_permission(VIEW_TRACES)
def span_details(request: HttpRequest, trace_id: str, span_id: str) -> HttpResponse:
    """One span's details (attributes, events, logs, links, resource) as an HTML fragment,
    fetched by the trace page when the span is opened."""
    trace_id = trace_id.lower()
    row = span_row(_spans_or_404(trace_id), trace_logs(trace_id), span_id.lower())
    if row is None:
        raise Http404("No such span in this trace.")
    return render(request, "telemetry/_span_details.html", {"row": row, "span": row.span})


@staff_with_permission(VIEW_TRACES)
def subtree_rows(request: HttpRequest, trace_id: str) -> JsonResponse:
    """The waterfall rows below folded spans (``?under=<span id>``, repeated), each span's
    as an HTML fragment of ``<tr>`` drawn as the page draws its own: what unfolding a large
    trace's folded span fetches. ``?show=<span id>`` draws the way to that span open;
    ``?unfold=1`` folds nothing ("unfold all"). The rows limit is shared: a span past it
    is left out of the answer (it stays folded)."""
    trace_id = trace_id.lower()
    spans = _spans_or_404(trace_id, read=trace_page_spans)
    view = waterfall(
        spans,
        trace_logs(trace_id),
        subtrees=[span_id.lower() for span_id in request.GET.getlist("under")][:MAX_SUBTREES],
        show=request.GET.get("show", "").lower(),
        unfold=request.GET.get("unfold") == "1",
    )
    return JsonResponse({"rows": {span_id: str(drawn_rows(items)) for span_id, items in view.parts.items()}})


@staff_with_permission(VIEW_TRACES)
def trace_find(request: HttpRequest, trace_id: str) -> JsonResponse:
    """Find in trace over every span, drawn or not (``?q=``): the matching span ids in
    drawing order (the first 1,000), how many in all, and the drawn parents leading to
    them, so the page can unfold the way to a span it was not sent."""
    trace_id = trace_id.lower()
    return JsonResponse(find_spans(_spans_or_404(trace_id, read=trace_page_spans), request.GET.get("q", "")))


def _spans_or_404(trace_id: str, read: Callable[[str], list[Span]] = trace_spans) -> list[Span]:
    spans = read(trace_id)
    if not spans:
        raise Http404("No spans stored for this trace (yet).")
    return spans


@staff_with_permission(VIEW_TRACES)
def trace_compare(request: HttpRequest) -> HttpResponse:
    """Two traces side by side (``?a=…&b=…``), operations matched by service and name."""
    ids = {side: request.GET.get(side, "").strip().lower() for side in ("a", "b")}
    context: dict = {"a": ids["a"], "b": ids["b"], "sides": [], "diffs": [], "missing": []}
    if ids["a"] and ids["b"]:
        spans = {side: trace_spans(trace_id) for side, trace_id in ids.items()}
        context["missing"] = [ids[side] for side in ("a", "b") if not spans[side]]
        if not context["missing"]:
            context["sides"] = [_side(side, ids[side], spans[side]) for side in ("a", "b")]
            context["diffs"] = compare_traces(spans["a"], spans["b"])
            context["changed"] = sum(bool(diff.changes) for diff in context["diffs"])
    return render(request, "telemetry/trace_compare.html", context, status=404 if context["missing"] else 200)


def _side(side: str, trace_id: str, spans: list) -> dict:
    start = min(span.start_time_ns for span in spans)
    cause = root_cause(spans)
    roots = [span for span in spans if not span.parent_span_id] or spans
    return {
        "side": side,
        "trace_id": trace_id,
        "root_name": min(roots, key=lambda span: span.start_time_ns).name,
        "duration_ms": (max(span.end_time_ns for span in spans) - start) / 1e6,
        "span_count": len(spans),
        "error_count": sum(span.status == "ERROR" for span in spans),
        "services": [(name, service_colour(name)) for name in sorted({span.service for span in spans})],
        "orders": [(order_id, order_admin_url(order_id)) for order_id in trace_order_ids(spans)],
        "root_cause": cause,
    }


@staff_with_permission(VIEW_TRACES)
def trace_otlp(request: HttpRequest, trace_id: str) -> HttpResponse:
    """The trace as an OTLP JSON file."""
    trace_id = trace_id.lower()
    response = JsonResponse(to_otlp(_spans_or_404(trace_id)), json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="trace-{trace_id}.otlp.json"'
    return response


@require_POST
@staff_with_permission(LOAD_TRACES)  # it writes spans: more than reading
def trace_load(request: HttpRequest) -> HttpResponse:
    """Stores the valid spans of an uploaded OTLP JSON file, says how many were stored and
    how many refused (and why), then shows (the first of) its traces."""
    form = TraceUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        problems = " ".join(str(error) for field in form.errors.values() for error in field)
        messages.error(request, f"Choose an OTLP JSON file to load. {problems}".strip())
        return redirect("telemetry:trace-list")
    upload = form.cleaned_data["file"]
    try:
        loaded = read_otlp(json.loads(upload.read()))
    except (OtlpError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        messages.error(request, f"Could not load {upload.name}: {exc}")
        return redirect("telemetry:trace-list")
    except RecursionError:  # the JSON parser's own depth limit, far beyond what a span may hold
        messages.error(request, f"Could not load {upload.name}: the JSON is nested too deeply")
        return redirect("telemetry:trace-list")
    if loaded.refused:
        messages.warning(
            request,
            f"Refused {loaded.refused} of {loaded.refused + len(loaded.rows)} spans in {upload.name}: "
            + "; ".join(loaded.reasons)
            + (" …" if loaded.refused > len(loaded.reasons) else ""),
        )
    if not loaded.rows:
        messages.error(request, f"Could not load {upload.name}: no span could be stored")
        return redirect("telemetry:trace-list")
    rows = loaded.rows
    added = store_spans(rows)
    trace_ids = list(dict.fromkeys(row.trace_id for row in sorted(rows, key=lambda row: row.start_time_ns)))
    messages.success(
        request,
        f"Loaded {upload.name}: {len(rows)} spans in {len(trace_ids)} trace(s), {added} new.",
    )
    return redirect("telemetry:trace-detail", trace_id=trace_ids[0])
