"""Errors a user can act on. Their message says what went wrong and what to do."""


class UserError(Exception):
    """Bad input: a params key, a missing dataset, a corrupt file. Printed without traceback."""


class ConfigError(UserError):
    """A params file that does not validate; the message names the offending key."""


class DatasetError(UserError):
    """A dataset that is absent, corrupt or modified; the message says where it was looked for."""


class DivergenceError(UserError):
    """A non-finite loss; the message names the method, epoch and step."""
