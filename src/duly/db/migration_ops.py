"""Migration operations of Duly's own.

:class:`LabelsOnly` applies operations that change only what the admin shows (verbose names, help texts, choices,
model options) to the migration state without re-rendering the models after each of them. Applied one by one, an
``AlterField`` of a foreign key re-renders every model related to it, and the ~900 label changes of the
``*_translated_labels`` migrations made a fresh ``migrate`` cost about 50 s more CPU. None of them changes the
database (``sqlmigrate`` prints no SQL for them on SQLite or PostgreSQL), so there is nothing to run there.
"""

from __future__ import annotations

from django.db.migrations.operations.base import Operation


class LabelsOnly(Operation):
    reduces_to_sql = False
    reversible = True

    def __init__(self, operations):
        self.operations = operations

    def deconstruct(self):
        return self.__class__.__name__, [self.operations], {}

    def state_forwards(self, app_label, state):
        # Without rendered apps, ProjectState.reload_model only updates the model states; the apps are rendered
        # again, once, when next asked for (a cached property).
        state.__dict__.pop("apps", None)
        for operation in self.operations:
            operation.state_forwards(app_label, state)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        pass

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        pass

    def describe(self):
        return f"Change {len(self.operations)} labels (verbose names, help texts, choices, options)"
