"""Endpoints the index keeps and leaves out (tests/test_index.py): replayable or not, named, namespaced."""

import datetime

from django.urls import include, path

from health_check.views import HealthCheckView
from tests.testapp.probes import Sample, Steady


class OwnReport(HealthCheckView):
    """Answers with code of its own: the index cannot replay it."""

    def get_report(self, now=None):
        return super().get_report(now)


class OwnChecks(HealthCheckView):
    """Chooses its checks in code: the index cannot replay it."""

    def get_checks(self):
        yield Steady()


class Styled(HealthCheckView):
    """Sets attributes only: answered by the base hooks, so the index keeps it."""

    feed_author = "Ops"


def fixed_clock() -> datetime.datetime:
    return datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)


urlpatterns = [
    path("plain/", HealthCheckView.as_view(checks=[Steady()]), name="index-plain"),
    path("styled/", Styled.as_view(checks=[Sample("styled")], warnings_as_errors=False), name="index-styled"),
    path("report/", OwnReport.as_view(checks=[Steady()]), name="index-own-report"),
    path("checks/", OwnChecks.as_view(), name="index-own-checks"),
    path("clock/", HealthCheckView.as_view(checks=[Steady()], clock=fixed_clock), name="index-clock"),
    path("codes/", HealthCheckView.as_view(checks=[Steady()], status_codes={"eror": 503}), name="index-bad-codes"),
    path("ready/", HealthCheckView.as_view(checks=[Steady()], readiness=True), name="index-ready"),
    path("args/<int:number>/", HealthCheckView.as_view(checks=[Steady()]), name="index-args"),
    path("outer/", include(([path("inner/", HealthCheckView.as_view(checks=[Sample("ns")]), name="inner")], "outer"))),
]
