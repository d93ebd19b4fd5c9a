"""Forms drawn as crispy-forms' Bootstrap 5 pack draws them, in Python.

`{{ form|crispy }}` renders every field through five or six nested templates; on the incident
page that was a quarter of the page's time (bench/results.md), for markup that never changes
shape. `render_form` writes the same HTML directly: the same wrappers, ids, classes, labels,
required markers, help texts and error blocks, each widget still rendered by Django itself (so
`required`, `aria-invalid` and `aria-describedby` come from Django as before).
incidents/tests/test_formrender.py holds every form Beacon shows, blank and with errors, against
crispy's own rendering, compared as HTML: a difference fails the test.

Widgets it does not know (file inputs, multi-widgets) are handed to crispy unchanged.
"""

from functools import lru_cache

from django import forms
from django.forms.boundfield import BoundField
from django.utils.html import conditional_escape, escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

ASTERISK = mark_safe('<span class="asteriskField">*</span>')


def render_form(form: "forms.BaseForm | BlankForm") -> SafeString:
    """The whole form: its non-field errors, then each field (hidden ones as bare inputs)."""
    if isinstance(form, BlankForm):
        return form.__html__()
    parts = [non_field_errors(form)]
    parts += [render_field(field) for field in form]
    return mark_safe("".join(parts))


class BlankForm:
    """An empty form to draw: what `{{ form|bootstrap }}` gives for `form_class(**kwargs)`, most
    of it drawn once per process.

    The incident page shows a dozen empty forms on every view, and building and drawing them was
    a fifth of its time (bench/results.md) for HTML that is the same every time. Only a field
    whose initial value is made afresh (a one-time token) or whose options are not a fixed list
    (read from the database or the cache) is drawn each time, from a form built for it; every
    other field's HTML is kept by `_blank_parts`. `errors` is empty, so _form_errors.html draws
    nothing, and the form is never bound: a posted form is the real form class, with its errors.
    """

    errors: dict = {}
    is_bound = False

    def __init__(self, form_class: type[forms.BaseForm], *, auto_id: str = "id_%s", initial: dict | None = None):
        initial = initial or {}
        if not all(value is None or isinstance(value, str | int) for value in initial.values()):
            # A date would be drawn in the reader's time zone: not the same HTML for everybody.
            raise TypeError("BlankForm takes plain initial values (text, numbers) only")
        self.form_class, self.auto_id, self.initial = form_class, auto_id, initial

    def build(self) -> forms.BaseForm:
        return self.form_class(auto_id=self.auto_id, initial=self.initial)

    def __html__(self) -> SafeString:
        # A form class is hashable; django-stubs' BaseForm says otherwise.
        parts = _blank_parts(self.form_class, self.auto_id, tuple(sorted(self.initial.items())))  # type: ignore[arg-type]
        if all(part is not None for _, part in parts):
            return mark_safe("".join(part or "" for _, part in parts))
        form = self.build()
        return mark_safe("".join(render_field(form[name]) if part is None else part for name, part in parts))

    __str__ = __html__


def _drawn_each_time(field: forms.Field, initial: dict, name: str) -> bool:
    if name not in initial and callable(field.initial):
        return True
    choices = getattr(field.widget, "choices", None)
    return choices is not None and not isinstance(choices, list | tuple)


@lru_cache(maxsize=256)
def _blank_parts(form_class, auto_id: str, initial: tuple) -> tuple[tuple[str, str | None], ...]:
    """(field name, its HTML) for each field of a blank form; None for those drawn each time."""
    form = form_class(auto_id=auto_id, initial=dict(initial))
    given = dict(initial)
    return tuple(
        (name, None if _drawn_each_time(field, given, name) else render_field(form[name]))
        for name, field in form.fields.items()
    )


def non_field_errors(form: forms.BaseForm) -> str:
    errors = form.non_field_errors()
    if not errors:
        return ""
    items = format_html_join("", "<li>{}</li>", ((error,) for error in errors))
    return format_html('<div class="alert alert-block alert-danger"><ul class="m-0">{}</ul></div>', items)


def render_field(field: BoundField) -> str:
    widget = field.field.widget
    if field.is_hidden:
        return str(field) if field.field.show_hidden_initial else _as_widget(field, {})
    if isinstance(widget, forms.FileInput | forms.MultiWidget) or hasattr(widget, "widget"):
        from crispy_forms.templatetags.crispy_forms_filters import as_crispy_field

        return as_crispy_field(field)
    if isinstance(widget, forms.CheckboxInput):
        return _checkbox(field)
    if isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
        return _choices(field)
    bootstrap = "form-select" if isinstance(widget, forms.Select) else "form-control"
    return format_html(
        '<div id="div_{}" class="mb-3{}">{}{}{}</div>',
        field.auto_id,
        _extra_classes(field),
        _label(field, "label"),
        _widget(field, bootstrap),
        _help_and_errors(field),
    )


def _extra_classes(field: BoundField) -> str:
    classes = field.css_classes()
    return f" {classes}" if classes else ""


def _required(field: BoundField) -> str:
    return " requiredField" if field.field.required else ""


def _label(field: BoundField, tag: str) -> str:
    if not field.label:
        return ""
    target = format_html('for="{}" ', field.id_for_label) if field.id_for_label else ""
    fieldset = " fs-6" if tag == "legend" else ""
    return format_html(
        '<{} {}class="form-label{}{}">{}{}</{}>',
        mark_safe(tag),
        target,
        _required(field),
        fieldset,
        field.label,
        ASTERISK if field.field.required else "",
        mark_safe(tag),
    )


def _widget(field: BoundField, bootstrap: str) -> str:
    """The widget with crispy's classes: its own class name (textinput, select…), then Bootstrap's."""
    widget = field.field.widget
    name = type(widget).__name__.lower()
    classes = widget.attrs.get("class", "")
    if not classes:
        classes = name
    elif name not in classes:
        classes += f" {name}"
    words = classes.split()
    for word in (bootstrap, "is-invalid") if field.errors else (bootstrap,):
        if word not in words:
            words.append(word)
    return _as_widget(field, {"class": " ".join(words)})


# Django's widget templates that are nothing but django/forms/widgets/input.html (a checkbox's
# `checked` comes from its get_context; file inputs are left to Django), and the textarea's.
_INPUT_TEMPLATES = {
    f"django/forms/widgets/{name}.html"
    for name in (
        "text", "number", "email", "url", "password", "date", "datetime", "time", "search", "tel", "color",
        "hidden", "checkbox",
    )
}  # fmt: skip
_TEXTAREA_TEMPLATE = "django/forms/widgets/textarea.html"


def _as_widget(field: BoundField, attrs: dict) -> str:
    """`field.as_widget(attrs=attrs)`, written in Python for plain inputs and textareas.

    The same HTML as Django's input.html/attrs.html/textarea.html (the form tests compare every
    form with crispy's rendering), without the template engine: three nested templates per
    field were most of a form's drawing time. Anything else goes to Django.
    """
    widget = field.field.widget
    template = widget.template_name
    if field.field.localize or (template not in _INPUT_TEMPLATES and template != _TEXTAREA_TEMPLATE):
        return field.as_widget(attrs=attrs)
    # What BoundField.as_widget does before it renders.
    attrs = field.build_widget_attrs(attrs, widget)
    if field.auto_id and "id" not in widget.attrs:
        attrs.setdefault("id", field.auto_id)
    context = widget.get_context(field.html_name, field.value(), attrs)["widget"]
    value = context["value"]
    name, rest = conditional_escape(context["name"]), widget_attrs(context["attrs"])
    if template == _TEXTAREA_TEMPLATE:
        if value and not isinstance(value, str):
            return field.as_widget(attrs=attrs)  # the template would localize it
        text = conditional_escape(value) if value else ""
        return mark_safe(f'<textarea name="{name}"{rest}>\n{text}</textarea>')
    shown = "" if value is None else f' value="{escape(str(value))}"'
    return mark_safe(f'<input type="{conditional_escape(context["type"])}" name="{name}"{shown}{rest}>')


def widget_attrs(attrs: dict) -> SafeString:
    """django/forms/widgets/attrs.html: ` name="value"`, a bare ` name` for True, nothing for False.
    Values are always escaped, as the template's `stringformat:'s'` does (the text it makes is not
    marked safe)."""
    return mark_safe(
        "".join(
            f" {conditional_escape(name)}" if value is True else f' {conditional_escape(name)}="{escape(str(value))}"'
            for name, value in attrs.items()
            if value is not False
        )
    )


def _help_text(field: BoundField) -> str:
    if not field.help_text:
        return ""
    identity = format_html('id="{}_helptext" ', field.auto_id) if field.auto_id else ""
    # crispy marks help texts safe: they are written by Beacon's forms, never by users.
    return format_html('<div {}class="form-text">{}</div>', identity, mark_safe(field.help_text))


def _errors(field: BoundField, tag: str) -> str:
    if not field.errors:
        return ""
    items = format_html_join(
        "",
        '<{} id="error_{}_{}"><strong>{}</strong></{}>',
        (
            (mark_safe(tag), number, field.auto_id, error, mark_safe(tag))
            for number, error in enumerate(field.errors, 1)
        ),
    )
    return format_html('<div id="{}_error" class="invalid-feedback">{}</div>', field.errors.field_id, items)  # type: ignore[attr-defined]  # Django 5 sets it; the stubs lag


def _help_and_errors(field: BoundField) -> str:
    return mark_safe(_errors(field, "p") + _help_text(field))  # both built by format_html


def _checkbox(field: BoundField) -> str:
    return format_html(
        '<div class="mb-3"><div id="div_{}" class="form-check{}">{}'
        '<label for="{}" class="form-check-label{}">{}{}</label>{}</div></div>',
        field.auto_id,
        _extra_classes(field),
        _widget(field, "form-check-input"),
        field.id_for_label,
        _required(field),
        field.label,
        ASTERISK if field.field.required else "",
        _help_and_errors(field),
    )


def _choices(field: BoundField) -> str:
    """Radio buttons or checkboxes in a fieldset, as crispy's radio_checkbox_select.html."""
    widget = field.field.widget
    identity = widget.attrs.get("id") or field.auto_id
    attrs = field.build_widget_attrs({"id": identity} if identity else {})
    groups = widget.optgroups(field.html_name, widget.format_value(field.value()), attrs)
    invalid = " is-invalid" if field.errors else ""
    options = []
    for group_number, (group, choices, _) in enumerate(groups):
        if group:
            options.append(format_html("<strong>{}</strong>", group))
        for number, option in enumerate(choices):
            last = group_number == len(groups) - 1 and number == len(choices) - 1
            options.append(
                format_html(
                    '<div class="form-check"><input type="{}" class="form-check-input{}" name="{}" value="{}"{}>'
                    '<label for="{}" class="form-check-label">{}</label>{}</div>',
                    option["type"],
                    invalid,
                    field.html_name,
                    str(option["value"]),
                    widget_attrs(option["attrs"]),
                    option["attrs"].get("id", ""),
                    str(option["label"]),
                    _errors(field, "p") if last else "",
                )
            )
    body = format_html("<div>{}</div>{}", mark_safe("".join(options)), _help_text(field))
    if not field.label:
        return format_html('<div id="div_{}" class="mb-3{}">{}</div>', field.auto_id, _extra_classes(field), body)
    described = format_html(' aria-describedby="{}"', field.aria_describedby) if field.aria_describedby else ""
    legend = _label(field, "legend" if field.use_fieldset else "label")
    if field.use_fieldset:
        body = format_html("<fieldset{}>{}{}</fieldset>", described, legend, body)
    else:
        body = mark_safe(legend + body)  # both built by format_html
    return format_html('<div id="div_{}" class="mb-3{}">{}</div>', field.auto_id, _extra_classes(field), body)
