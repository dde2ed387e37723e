"""socialmix: register-data panel analysis of Danish social-housing estates.

Stages: ``panel`` (registers -> person-year panel) -> ``queries`` (measure
tables) -> ``analyses`` (difference-in-differences, figures, report). This
package holds only what composes them: the command line and the synthetic
register generator.
"""

__version__ = "0.1.0"

try:
    from panel import check_install
except ImportError as err:  # 'panel' itself is shadowed: the message names the file
    raise ImportError(f"socialmix: {err}; rename that file or folder (see the README, 'Your own scripts')") from None

check_install()
