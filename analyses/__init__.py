"""analyses: difference-in-differences, regression tables, figures and the report."""

try:
    from panel import check_install
except ImportError as err:  # 'panel' itself is shadowed: the message names the file
    raise ImportError(f"socialmix: {err}; rename that file or folder (see the README, 'Your own scripts')") from None

check_install()
