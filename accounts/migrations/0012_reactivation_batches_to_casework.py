from django.db import migrations


class Migration(migrations.Migration):
    """Reactivation batches belong to casework (with the incidents they re-drive): accounts lets go of them.

    The tables stay where they are (casework's models keep their names); only the command's
    link to a batch item goes: casework finds the items of an account core banking answered.
    """

    dependencies = [("accounts", "0011_core_banking_outbox")]

    operations = [
        migrations.RemoveField(model_name="corecommand", name="batch_item"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(model_name="reactivationbatch", name="batch_counts_add_up"),
                migrations.RemoveIndex(model_name="reactivationitem", name="batch_item_status"),
                migrations.RemoveConstraint(model_name="reactivationitem", name="batch_account_once"),
                migrations.RemoveField(model_name="reactivationitem", name="account"),
                migrations.RemoveField(model_name="reactivationitem", name="batch"),
                migrations.DeleteModel(name="ReactivationBatch"),
                migrations.DeleteModel(name="ReactivationItem"),
            ],
            database_operations=[],
        ),
    ]
