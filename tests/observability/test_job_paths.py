"""django-q2 runs jobs from `<app>.jobs`; rows queued under the old `<app>.tasks` paths run."""

import importlib

import pytest
from django.apps import apps
from django.utils.module_loading import import_string
from django_q.models import Schedule, Task
from django_q.tasks import async_task

migration = importlib.import_module("observability.migrations.0005_schedules_name_job_modules")
MOVED = migration.MOVED

pytestmark = pytest.mark.django_db


def test_every_schedule_the_migrations_create_names_a_job_module():
    funcs = set(Schedule.objects.values_list("func", flat=True))

    assert funcs, "the migrations create the sweeper, checkpoint and alert schedules"
    assert all(".jobs." in func for func in funcs), funcs
    for func in funcs:
        import_string(func)


@pytest.mark.parametrize("old", sorted(MOVED))
def test_a_job_queued_under_its_old_path_runs_the_same_callable(old):
    assert import_string(old) is import_string(MOVED[old])


def test_a_row_queued_under_the_old_path_still_runs():
    result = async_task("integrations.tasks.purge_rejections", sync=True)

    assert Task.objects.get(id=result).result == "purged 0 rejections"


def test_the_migration_moves_a_schedule_back_and_forth():
    Schedule.objects.update_or_create(
        name="legacy", defaults={"func": "workflows.tasks.sweep", "schedule_type": "I"}
    )

    migration.forwards(apps, None)
    assert Schedule.objects.get(name="legacy").func == "workflows.jobs.sweep"
    migration.backwards(apps, None)
    assert Schedule.objects.get(name="legacy").func == "workflows.tasks.sweep"
