"""incidents/formrender.py draws every form exactly as crispy-forms' Bootstrap 5 pack does.

Each form Beacon shows is rendered both ways, blank and bound with errors, and compared as HTML
(attribute order and whitespace aside). A new form class anywhere in Beacon must be listed in
FORMS, or test_every_form_class_is_compared fails.
"""

import difflib
import importlib
import inspect
import pkgutil

import pytest
from django import forms
from django.contrib.auth import forms as auth_forms
from django.template import Context, Template
from django.test.html import parse_html

import incidents
import reviews
from incidents import accounts, formrender
from incidents.models import Incident
from incidents.tests.factories import make_incident

CRISPY = Template("{% load crispy_forms_tags %}{{ form|crispy }}")


def crispy(form) -> str:
    return CRISPY.render(Context({"form": form}))


def incident(responder) -> Incident:
    return make_incident(by=responder, title="Checkout <b>down</b>", severity="high")


# name -> (factory(responder) -> unbound form, factory(responder) -> bound form with errors or None)
def _forms():
    from incidents.api.tokens import ApiTokenForm
    from incidents.forms import (
        DuplicateForm,
        EditIncidentForm,
        ImpactForm,
        IncidentForm,
        LeadForm,
        LiftRestrictionForm,
        LinkForm,
        MitigateForm,
        NoteForm,
        ParticipantForm,
        ProfileForm,
        ReactivateForm,
        ReopenForm,
        ResolveForm,
        RestrictForm,
        SeverityForm,
        StatusUpdateForm,
        UndoDuplicateForm,
    )
    from incidents.maintenance.forms import SilenceForm, WindowForm
    from incidents.notifications.channel_views import ChannelForm, QuietHoursForm, RuleForm
    from incidents.notifications.subscribe_views import SubscribeForm
    from incidents.notifications.views import NotificationSettingsForm, StakeholderForm
    from incidents.oncall.forms import LoadMonthForm, OverrideForm, PolicyForm, PreviewForm, RotationForm, StepForm
    from incidents.reports.forms import ReportFilterForm
    from incidents.retention_views import RetentionForm
    from incidents.team_views import MemberForm, TeamForm
    from incidents.typefields import CustomFieldsForm
    from incidents.user_report_views import ProblemForm, TriageForm
    from incidents.views import ThemeForm, VisibilityForm
    from reviews.forms import (
        ActionItemForm,
        ActionItemStateForm,
        PublicSummaryForm,
        ReasonForm,
        ReviewForm,
        RunbookForm,
    )

    def plain(cls, bad=None):
        return (lambda r: cls(), lambda r: cls(bad if bad is not None else {}))

    return {
        "IncidentForm": plain(IncidentForm, {"title": "x\x00", "occurred_at": "0001-01-01T00:00"}),
        "EditIncidentForm": (
            lambda r: EditIncidentForm(instance=incident(r)),
            lambda r: EditIncidentForm({"title": ""}, instance=incident(r)),
        ),
        "NoteForm": plain(NoteForm),
        "ResolveForm": plain(ResolveForm),
        "StatusUpdateForm": plain(StatusUpdateForm),
        "ReopenForm": plain(ReopenForm),
        "ReactivateForm": plain(ReactivateForm),
        "MitigateForm": plain(MitigateForm),
        "SeverityForm": (
            lambda r: SeverityForm(initial={"severity": "high"}),
            lambda r: SeverityForm({"severity": "x"}),
        ),
        "RestrictForm": plain(RestrictForm),
        "LiftRestrictionForm": plain(LiftRestrictionForm),
        "ParticipantForm": plain(ParticipantForm),
        "LeadForm": (lambda r: LeadForm(initial={"lead": r.pk}), lambda r: LeadForm({"lead": "999999"})),
        "ProfileForm": plain(ProfileForm, {"time_zone": "Mars/Olympus", "theme": "neon"}),
        "ApiTokenForm": (lambda r: ApiTokenForm(user=r), lambda r: ApiTokenForm({}, user=r)),
        "NotificationSettingsForm": plain(NotificationSettingsForm, {"min_severity": "apocalyptic"}),
        "SubscribeForm": plain(SubscribeForm, {"email": "nope", "services": ["999"]}),
        "ChannelForm": plain(ChannelForm, {"label": "", "url": "foo://bar"}),
        "RuleForm": plain(RuleForm, {"target": "sms", "delay_minutes": "-1", "severities": ["x"]}),
        "QuietHoursForm": plain(QuietHoursForm, {"start": "22:00", "end": "22:00"}),
        "ProblemForm": plain(ProblemForm, {"what": "", "email": "x", "service": "999"}),
        "TriageForm": plain(TriageForm, {"action": "shout", "severity": "x"}),
        "LinkForm": plain(LinkForm, {"kind": "married_to", "other": "yesterday"}),
        "DuplicateForm": plain(DuplicateForm, {"primary": "soon"}),
        "UndoDuplicateForm": plain(UndoDuplicateForm),
        "RotationForm": (
            lambda r: RotationForm(user=_manager()),
            lambda r: RotationForm({"name": "", "start_date": "soon", "team": "999"}, user=_manager()),
        ),
        "TeamForm": plain(TeamForm, {"name": "!!!"}),
        "MemberForm": plain(MemberForm, {"username": "nobody-here"}),
        "StakeholderForm": plain(StakeholderForm, {"username": "nobody-here", "email": "not an address"}),
        "OverrideForm": (
            lambda r: OverrideForm(rotation=_rotation()),
            lambda r: OverrideForm({"start": "x"}, rotation=_rotation()),
        ),
        "LoadMonthForm": (
            lambda r: LoadMonthForm(today=_today()),
            lambda r: LoadMonthForm({"month": "2026-13"}, today=_today()),
        ),
        "PolicyForm": plain(PolicyForm, {"name": "", "severities": ["x"], "repeat": "11"}),
        "StepForm": plain(StepForm, {"target": "user", "delay_minutes": "-1", "rotation": "999999"}),
        "PreviewForm": plain(PreviewForm, {"severity": "x", "at": "soon", "service": "999999"}),
        "VisibilityForm": plain(VisibilityForm),
        "WindowForm": plain(WindowForm, {"services": ["999"], "start": "soon", "end": "later", "description": ""}),
        "SilenceForm": plain(SilenceForm, {"matchers": 'instance=~"web-("', "hours": "7", "comment": "x\x00"}),
        "CustomFieldsForm": (
            lambda r: CustomFieldsForm(incident_type=_security_fields()),
            lambda r: CustomFieldsForm(
                {"fields-records": "many", "fields-detected_on": "soon"}, incident_type=_security_fields()
            ),
        ),
        "ThemeForm": plain(ThemeForm),
        "ImpactForm": plain(ImpactForm, {"started_at": "soon", "ended_at": "2001-01-01T00:00"}),
        "RetentionForm": (
            lambda r: RetentionForm(),
            lambda r: RetentionForm({"incident_years": "-1", "delivery_days": "x", "action": "shred"}),
        ),
        "ReportFilterForm": plain(ReportFilterForm, {"severity": "x", "service": "nope", "source": "fax"}),
        "ReviewForm": plain(ReviewForm),
        "ReasonForm": plain(ReasonForm),
        "PublicSummaryForm": plain(PublicSummaryForm),
        "ActionItemForm": plain(ActionItemForm, {"title": "", "due_date": "never", "tracker_url": "ftp:x"}),
        "ActionItemStateForm": plain(ActionItemStateForm),
        "RunbookForm": plain(RunbookForm),
        "IncidentFilter": (
            lambda r: _filter("incidents.filters", "IncidentFilter", {}),
            lambda r: _filter("incidents.filters", "IncidentFilter", {"severity": ["x"], "reported_after": "no"}),
        ),
        "ReviewFilter": (
            lambda r: _filter("reviews.filters", "ReviewFilter", {}),
            lambda r: _filter("reviews.filters", "ReviewFilter", {"state": "x"}),
        ),
        "ActionItemFilter": (
            lambda r: _filter("reviews.filters", "ActionItemFilter", {}),
            lambda r: _filter("reviews.filters", "ActionItemFilter", {"state": "x", "priority": "y"}),
        ),
        # Django's own, shown through templates/_form.html.
        "AuthenticationForm": (
            lambda r: auth_forms.AuthenticationForm(),
            lambda r: auth_forms.AuthenticationForm(data={"username": "", "password": ""}),
        ),
        # The sign-in page's (incidents/accounts.py): Django's, with the break-glass rule.
        "LoginForm": (
            lambda r: accounts.LoginForm(),
            lambda r: accounts.LoginForm(data={"username": "", "password": ""}),
        ),
        "PasswordResetForm": plain(auth_forms.PasswordResetForm, {"email": "not an address"}),
        "SetPasswordForm": (
            lambda r: auth_forms.SetPasswordForm(r),
            lambda r: auth_forms.SetPasswordForm(r, {"new_password1": "a", "new_password2": "b"}),
        ),
        "PasswordChangeForm": (
            lambda r: auth_forms.PasswordChangeForm(r),
            lambda r: auth_forms.PasswordChangeForm(r, {"old_password": "x"}),
        ),
    }


def _security_fields():
    """The Security type with one field of each kind (one required, one with help text)."""
    from incidents.models import CustomField, IncidentType

    security = IncidentType.objects.get(slug="security")
    if not CustomField.objects.filter(type=security).exists():
        Kind = CustomField.Kind
        CustomField.objects.create(
            type=security, label="Data affected?", kind=Kind.CHOICE, choices="yes\nno", required=True, position=1
        )
        CustomField.objects.create(type=security, label="Records", kind=Kind.NUMBER, position=2, help_text="<b>n</b>")
        CustomField.objects.create(type=security, label="Detected on", kind=Kind.DATE, position=3)
        CustomField.objects.create(type=security, label="Legal contact", kind=Kind.USER, position=4)
        CustomField.objects.create(type=security, label="Ticket", kind=Kind.TEXT, position=5)
    return security


def _today():
    import datetime as dt

    return dt.date(2026, 4, 20)


def _manager():
    """A global manager with a team to choose, so the rotation form's team select has an option."""
    from django.contrib.auth import get_user_model

    from conftest import make_user
    from incidents.models import Team

    Team.objects.get_or_create(name="Payments", defaults={"slug": "payments"})
    found = get_user_model().objects.filter(username="formrender-manager").first()
    return found or make_user("formrender-manager", "Manager")


def _rotation():
    from incidents.models import Rotation

    return Rotation.objects.get_or_create(name="Primary", defaults={"start_date": "2026-01-05"})[0]


def _filter(module: str, name: str, data: dict):
    filterset = getattr(importlib.import_module(module), name)
    found = filterset(data, queryset=filterset._meta.model.objects.none())
    found.is_valid()
    return found.form


FORMS = _forms()
# Forms Beacon never draws with crispy: the admin draws its own, a mixin is not a form, and the
# response panels' forms only check inputs their templates write by hand (incidents/response_views.py).
NOT_DRAWN = {
    "IdempotentForm",
    "IncidentAdminForm",
    "RoleForm",
    "TaskForm",
    "TaskChangeForm",
    "UpdateTemplateForm",
    "WebhookMappingForm",
    "WebhookAdminForm",
}
# Forms every field of which may be left empty: their "with errors" case is a bound valid form.
NOTHING_REQUIRED = {"MitigateForm", "PublicSummaryForm"}


def assert_same_html(ours: str, theirs: str) -> None:
    ours_tree, theirs_tree = parse_html(ours), parse_html(theirs)
    if ours_tree != theirs_tree:
        diff = difflib.unified_diff(
            str(theirs_tree).splitlines(), str(ours_tree).splitlines(), "crispy", "ours", lineterm=""
        )
        pytest.fail("\n".join(diff))


@pytest.mark.parametrize("name", sorted(FORMS))
@pytest.mark.parametrize("bound", [False, True], ids=["blank", "with errors"])
def test_a_form_is_drawn_as_crispy_draws_it(name, bound, responder):
    make = FORMS[name][bound]
    ours, theirs = make(responder), make(responder)
    if "idempotency_token" in ours.fields:  # a fresh random token per form: the same for both
        ours.initial["idempotency_token"] = theirs.initial["idempotency_token"] = "same"
        if bound:
            ours.data = theirs.data = {**ours.data, "idempotency_token": "same"}
    if bound:
        ours.is_valid(), theirs.is_valid()
    assert_same_html(str(formrender.render_form(ours)), crispy(theirs))


def test_the_bound_cases_do_show_errors(responder):
    """The 'with errors' cases above compare error markup, not two blank forms."""
    wrong = []
    for name, (_, make) in FORMS.items():
        form = make(responder)
        if form.is_valid() != (name in NOTHING_REQUIRED):
            wrong.append(name)
        elif not form.is_valid() and 'class="invalid-feedback"' not in str(formrender.render_form(form)):
            assert form.non_field_errors(), name
    assert wrong == []


def test_user_text_in_values_labels_and_errors_is_escaped(responder):
    from incidents.forms import NoteForm

    form = NoteForm({"text": '</textarea><script>alert("x")</script>'})
    form.is_valid()
    html = str(formrender.render_form(form))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert_same_html(html, crispy(NoteForm({"text": '</textarea><script>alert("x")</script>'})))


def test_every_form_class_is_compared():
    found = set()
    for package in (incidents, reviews):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if ".tests" in module.name or ".migrations" in module.name or module.name.endswith("management.commands"):
                continue
            loaded = importlib.import_module(module.name)
            for name, value in vars(loaded).items():
                if not inspect.isclass(value) or not value.__module__.startswith(("incidents", "reviews")):
                    continue
                if issubclass(value, forms.BaseForm) or name.endswith("Filter") and hasattr(value, "base_filters"):
                    found.add(name)
    assert found - NOT_DRAWN <= set(FORMS), f"compare these too: {sorted(found - NOT_DRAWN - set(FORMS))}"


@pytest.mark.parametrize("data", [None, {"h": 'q"<&', "c": "on", "n": "12", "t": "x</textarea><b>", "d": "2026-01-02"}])
def test_inputs_written_in_python_match_djangos_widget_templates(data):
    """formrender writes plain inputs, checkboxes, hidden inputs and textareas itself: byte for
    byte what Django's own widget templates give, values escaped, for blank and bound forms."""
    from django import forms

    from incidents.formrender import _as_widget

    class Every(forms.Form):
        h = forms.CharField(widget=forms.HiddenInput, initial='a&"b')
        c = forms.BooleanField(required=False, initial=True)
        r = forms.BooleanField(required=True)
        n = forms.IntegerField(min_value=1, required=False)
        t = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), initial="x<y")
        d = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), required=False)
        e = forms.EmailField(help_text="Where", required=False)

    form = Every(data)
    form.is_valid()
    for field in form:
        classes = {"class": "form-control"}
        assert str(_as_widget(field, classes)) == str(field.as_widget(attrs=classes))


def _blank_forms():
    from incidents.forms import LeadForm, LinkForm, NoteForm, SeverityForm, StatusUpdateForm

    return [
        (NoteForm, {"auto_id": "note_%s"}),
        (SeverityForm, {"auto_id": "severity_%s", "initial": {"severity": "high"}}),
        (SeverityForm, {"auto_id": "severity_%s", "initial": {"severity": "low"}}),
        (LinkForm, {"auto_id": "link_%s"}),
        (StatusUpdateForm, {}),
        (LeadForm, {"auto_id": "lead_%s", "initial": {"lead": None}}),
    ]


def test_a_blank_form_is_drawn_as_the_form_itself(responder):
    """BlankForm keeps a blank form's HTML: drawn twice (the second time from what it kept), it is
    what render_form gives for the form itself, the one-time token aside."""
    for form_class, kwargs in _blank_forms():
        blank = formrender.BlankForm(form_class, **kwargs)
        for _ in range(2):
            ours = str(formrender.render_form(blank))
            theirs = form_class(**kwargs)
            if "idempotency_token" in theirs.fields:
                token = ours.split('name="idempotency_token" value="')[1].split('"')[0]
                theirs.initial["idempotency_token"] = token
            assert ours == str(formrender.render_form(theirs)), form_class.__name__
        assert not blank.errors and not blank.is_bound


def test_a_blank_forms_one_time_token_is_new_each_time():
    from incidents.forms import NoteForm

    def token():
        html = str(formrender.render_form(formrender.BlankForm(NoteForm, auto_id="note_%s")))
        return html.split('name="idempotency_token" value="')[1].split('"')[0]

    assert len({token() for _ in range(3)}) == 3


def test_a_blank_forms_options_from_the_database_are_read_each_time(responder, django_user_model):
    """The lead select's options change with the people who may lead: never kept."""
    from incidents.forms import LeadForm

    def drawn():
        return str(formrender.render_form(formrender.BlankForm(LeadForm, auto_id="lead_%s", initial={"lead": None})))

    assert "Ada Newcomer" not in drawn()
    newcomer = django_user_model.objects.create_user("ada", first_name="Ada", last_name="Newcomer")
    newcomer.groups.set(responder.groups.all())
    assert "Ada Newcomer" in drawn()


def test_a_blank_form_refuses_initial_values_drawn_per_reader():
    from django.utils import timezone

    from incidents.forms import ImpactForm

    with pytest.raises(TypeError):
        formrender.BlankForm(ImpactForm, initial={"started_at": timezone.now()})
