"""`plain`: a value from the log or a decision (a dict, a list, a number) as words a reader
takes in, "Step: policy.check; Reasons: value at or above 1000", never a Python repr."""

from django import template

from workflows.context_display import plain_text

register = template.Library()
register.filter("plain", plain_text)
