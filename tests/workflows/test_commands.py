from django.core.management import call_command


def test_list_workflows_names_each_step_with_its_kind_and_state(capsys):
    call_command("list_workflows")
    out = capsys.readouterr().out
    assert "order: Order fulfilment" in out
    assert "policy.check         machine  in state received" in out
    assert "manual.review        human    in state in_review" in out
    assert "pod.capture          wait     in state awaiting_pod" in out
