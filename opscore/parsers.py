"""DRF's JSON parser, made strict: every API body is held to opscore.json_input's rules."""

from __future__ import annotations

from rest_framework.parsers import JSONParser

from opscore.json_input import JSONInputError, parse_strict


class StrictJSONParser(JSONParser):
    """A NUL, lone surrogate, NaN, huge integer or deep nesting is a 400, never a 500 later."""

    def parse(self, stream, media_type=None, parser_context=None):
        # Imported here: api_errors imports DRF's views, which read the settings naming us.
        from opscore.api_errors import json_input_problem

        body = stream.read() if stream is not None else b""
        try:
            return parse_strict(body)
        except JSONInputError as error:
            raise json_input_problem(error) from error
