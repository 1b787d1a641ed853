"""Template helpers for the trace viewer."""

import datetime as dt

from django import template
from django.template.loader import render_to_string
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from core.text import counted
from telemetry.viewer import waterfall

register = template.Library()


@register.filter
def get_item(mapping, key):
    """Look up a key with dots in it (span attributes such as ``db.statement``)."""
    return mapping.get(key, "") if isinstance(mapping, dict) else ""


@register.filter
def service_colour(service):
    """The stable colour of a service (see ``telemetry.viewer.waterfall.service_colour``)."""
    return waterfall.service_colour(str(service))


@register.filter
def ns_datetime(value):
    """Epoch nanoseconds as an aware datetime, for the ``date`` filter."""
    return dt.datetime.fromtimestamp(int(value) / 1e9, tz=dt.UTC)


@register.filter
def ns_ms(value):
    """Nanoseconds as milliseconds."""
    return int(value or 0) / 1e6


@register.filter
def ns_to_ms(nanoseconds) -> float:
    return (nanoseconds or 0) / 1e6


@register.filter
def human_ms(milliseconds) -> str:
    """A trace's duration in the unit a person reads it in: "0.42 ms", "12.3 ms", "245 ms",
    "30.1 s", "2 min 5 s" (never "30080.0 ms")."""
    if milliseconds is None or milliseconds == "":
        return "–"
    value = float(milliseconds)
    if value < 1:
        return f"{value:.2f} ms"
    if value < 100:
        return f"{value:.1f} ms"
    if value < 1000:
        return f"{value:.0f} ms"
    seconds = round(value / 1000, 1)  # rounded first: 59.96 s reads "1 min", not "60.0 s"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 or seconds % 1 else f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


@register.filter
def percent(share) -> str:
    return f"{(share or 0) * 100:.1f}%"


@register.simple_tag
def waterfall_rows(view: waterfall.Waterfall) -> SafeString:
    """The waterfall's table rows: each span's row, then its details row (filled for the
    root cause; fetched when opened for the others). Built here, not in a template loop:
    a trace has hundreds of spans and the loop was most of the page's server time."""
    return drawn_rows(view.drawn)


def drawn_rows(items: list[waterfall.Row | waterfall.Elided | waterfall.Folded]) -> SafeString:
    """Rows as the waterfall's table draws them (the page's, or a folded span's subtree)."""
    return format_html_join("\n", "{}", ((_item_row(item),) for item in items))


def _item_row(item: waterfall.Row | waterfall.Elided | waterfall.Folded) -> SafeString:
    if isinstance(item, waterfall.Row):
        return _span_row(item)
    if isinstance(item, waterfall.Folded):
        return _folded_row(item)
    return _elided_row(item)


def _folded_row(folded: waterfall.Folded) -> SafeString:
    """A folded span's subtree, not sent with the page: one row that counts it, hidden
    under its folded span; unfolding the span fetches the rows in its place."""
    parent = folded.parent
    errors = format_html(", {} with an error", folded.errors) if folded.errors else ""
    return format_html(
        '<tr class="folded-rest" data-parent-id="{parent}" data-spans="{count}" hidden>'
        '<td colspan="3" class="muted" style="padding-left:{indent}em">… {more} '
        "under {name}{errors}, loaded when unfolded</td></tr>",
        parent=parent.span.span_id,
        count=folded.spans,
        more=counted(folded.spans, "more span"),
        indent=parent.indent + 1,
        name=parent.span.name,
        errors=errors,
    )


def _elided_row(elided: waterfall.Elided) -> SafeString:
    """The spans a large trace's page leaves undrawn under one span, with a link that
    draws them all (to that span)."""
    parent = elided.parent
    errors = format_html(", {} with an error", elided.errors) if elided.errors else ""
    return format_html(
        '<tr class="elided" data-parent-id="{parent}"{hidden}><td colspan="3" class="muted" '
        'style="padding-left:{indent}em">… {more} {where} not drawn{errors} · '
        '<a href="?all=1{anchor}">draw all</a></td></tr>',
        parent=parent.span.span_id if parent else "",
        hidden=mark_safe(" hidden") if elided.hidden else "",
        indent=parent.indent + 1 if parent else 0,
        more=counted(elided.spans, "more span"),
        where=format_html("under {}", parent.span.name) if parent else "at the top",
        errors=errors,
        anchor=f"#span-{parent.span.span_id}" if parent else "",
    )


def _attempt_badge(row: waterfall.Row) -> SafeString | str:
    """Before the name, where the cell's ellipsis cannot cut it: which attempt a retried
    task's run is, or which attempt a publish delivered."""
    if row.attempt:
        return format_html('<span class="marker attempt">attempt {}</span> ', row.attempt)
    if row.retries:
        return format_html('<span class="marker retry">retry → attempt {}</span> ', row.retries)
    return ""


def _span_row(row: waterfall.Row) -> SafeString:
    span = row.span
    if row.child_count:
        toggle = format_html(
            '<button type="button" class="toggle" data-toggle aria-label="{} {} children" '
            'title="{} children">{}</button>',
            "expand" if row.folded else "collapse",
            row.child_count,
            row.child_count,
            "▸" if row.folded else "▾",
        )
    else:
        toggle = mark_safe('<span class="toggle-spacer"></span>')
    marks = []
    if row.note:
        # The name column cuts the note short; hovering shows it whole (a statement, a URL,
        # what the folded statements wrote), up to a length a tooltip can hold.
        marks.append(
            format_html(' <span class="muted mono" title="{}">{}</span>', row.note[:500], row.short_note)
        )
    if row.root_cause:
        marks.append(
            format_html(
                '<span id="span-{}"></span><span class="marker cause">root cause</span>', span.span_id
            )
        )
    elif span.status == "ERROR":
        marks.append(mark_safe('<span class="marker err">✗</span>'))
    if row.logs:
        marks.append(format_html('<span class="marker logs" title="log records">✎{}</span>', len(row.logs)))
    if row.exception:
        message = row.exception["message"]
        message = message if len(message) <= 160 else message[:159] + "…"
        marks.append(format_html('<div class="exc-inline">{}: {}</div>', row.exception["type"], message))
    details = (
        render_to_string("telemetry/_span_details.html", {"row": row, "span": span}) if row.root_cause else ""
    )
    return format_html(
        '<tr class="span-row{flags}"\n    id="{dom_id}"\n    data-span-id="{id}" data-parent-id="{parent}" '
        'data-depth="{depth}" aria-expanded="{expanded}"{collapsed}{row_hidden}>\n'
        '  <td class="name" style="padding-left:{indent}em" title="{name}">{toggle}'
        '<span class="svc-dot" style="background:{colour}" title="{service}"></span>'
        '<span class="muted">{service}</span> {attempt}{name}{marks}</td>\n'
        '  <td><div class="lane"><div class="bar{bar_flags}" style="{bar_style}"></div></div></td>\n'
        "  <td>{duration}</td>\n</tr>\n"
        '<tr class="details" data-details-for="{id}"{hidden}><td colspan="3">{details}</td></tr>',
        flags=row.flags,
        dom_id="root-cause" if row.root_cause else f"span-{span.span_id}",
        id=span.span_id,
        parent=row.parent_id,
        depth=row.depth,
        indent=row.indent,
        expanded="true" if row.root_cause else "false",
        collapsed=mark_safe(' data-collapsed="true"') if row.folded else "",
        row_hidden=mark_safe(" hidden") if row.hidden else "",
        name=span.name,
        toggle=toggle,
        colour=row.colour,
        service=span.service,
        marks=mark_safe("".join(marks)),
        attempt=_attempt_badge(row),
        bar_flags=row.bar_flags,
        bar_style=row.bar_style,
        duration=row.duration_label,
        hidden="" if row.root_cause else mark_safe(" hidden"),
        details=details,
    )
