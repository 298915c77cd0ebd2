from example_project.celery import app as celery_app  # noqa: E402 - loaded with Django, as Celery's docs advise

__all__ = ["celery_app"]
