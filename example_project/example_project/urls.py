"""The cookbook's three tiers: node (probes), application (uptime monitors), pipeline (developer feeds).

Every endpoint lives under ``health/<HEALTH_CHECK_SECRET>/`` (``health/dev/`` by default), so that the
secret in the path keeps them private.
"""

import os

from django.http import HttpResponse
from django.urls import include, path
from redis.asyncio import Redis as RedisClient

from health_check.views import HealthCheckView

node_checks = [
    "health_check.contrib.psutil.CPU",
    "health_check.contrib.psutil.Memory",
    "health_check.contrib.psutil.Disk",
]

application_checks = [
    "health_check.Cache",
    "health_check.Database",
    "health_check.Mail",
    "health_check.Storage",
    # Message brokers & caches. Without these servers the node tier stays green and each of these
    # reports its own clear failure; see docs/checks/application.md to start a Celery worker.
    (
        "health_check.contrib.redis.Redis",
        {"client_factory": lambda: RedisClient.from_url("redis://localhost:6379")},
    ),
    (
        "health_check.contrib.rabbitmq.RabbitMQ",
        {"amqp_url": "amqp://guest:guest@localhost:5672//"},
    ),
    "health_check.contrib.celery.Ping",
]

pipeline_checks = [
    *application_checks,
    # Upstream provider status, polled every few minutes by the poller, never by a request.
    # Offline, each reports "Unavailable: <url>: cannot connect (...)"; docs/checks/upstream.md
    # shows how to point them at a mirror with base_url= / feed_url=.
    (
        "health_check.contrib.atlassian.GitHub",
        {"component": "Actions"},
    ),
    "health_check.contrib.atlassian.Cloudflare",
    (
        "health_check.contrib.rss.AWS",
        {"region": "eu-west-1", "service": "s3"},
    ),
]


def home(request):
    """A bare page, so the server answers something at /."""
    return HttpResponse("django-health-snapshot example project\n", content_type="text/plain; charset=utf-8")


urlpatterns = [
    path("", home, name="home"),
    path(
        f"health/{os.getenv('HEALTH_CHECK_SECRET', 'dev')}/",
        include(
            [
                # Tier 1 – node: liveness & readiness probes
                path(
                    "node/",
                    HealthCheckView.as_view(checks=node_checks),
                    name="health_check-node",
                ),
                # Readiness for load balancers and Kubernetes: the node checks, 503 when they fail or
                # while this host drains (`manage.py health_check_drain`, the preStop hook).
                path(
                    "ready/",
                    HealthCheckView.as_view(checks=node_checks, readiness=True, status_codes={"error": 503}),
                    name="health_check-ready",
                ),
                # Tier 2 – application: uptime monitors & on-call alerts
                path(
                    "application/",
                    HealthCheckView.as_view(checks=application_checks),
                    name="health_check-application",
                ),
                # Tier 3 – pipeline: developer RSS/Atom feeds (Slack, Matrix)
                path(
                    "pipeline/",
                    HealthCheckView.as_view(checks=pipeline_checks),
                    name="health_check-pipeline",
                ),
            ]
        ),
    ),
]
