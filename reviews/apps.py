from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reviews"

    def ready(self) -> None:
        # reviews hooks into incidents through its seams; incidents never imports reviews.
        from incidents import panels as incident_panels
        from incidents import workflow
        from incidents.signals import demo_seeded
        from reviews import alert_hooks, api, demo, panels, policy, public, reports, similar

        workflow.on_close_check(policy.check_close)
        incident_panels.register_public_summary(public.public_summaries)
        similar.register_matcher(alert_hooks.same_alertname)
        similar.register_scorer(alert_hooks.alert_points)
        panels.register_runbook_url(alert_hooks.runbook_url)
        demo_seeded.connect(demo.seed, dispatch_uid="reviews.demo.seed")
        incident_panels.register("reviews/_review_panel.html", panels.review_panel, where="aside", order=10)
        incident_panels.register("reviews/_runbook_panel.html", panels.runbook_panel, where="aside", order=20)
        incident_panels.register("reviews/_similar_panel.html", panels.similar_panel, where="main", order=60)
        incident_panels.register_report_section("reviews/_report_section.html", reports.learning_loop)
        # Reviews and action items in /api/ (reviews/api.py), mounted by the API from the core's list.
        incident_panels.register_api_routes(api.build)
