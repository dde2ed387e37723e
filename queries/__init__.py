"""queries: the social-mix measures of the panel, protected by disclosure control (OUT/measures/)."""

try:
    from panel import check_install
except ImportError as err:  # 'panel' itself is shadowed: the message names the file
    raise ImportError(f"socialmix: {err}; rename that file or folder (see the README, 'Your own scripts')") from None

check_install()
