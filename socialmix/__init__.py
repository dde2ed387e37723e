"""socialmix: register-data panel analysis of Danish social-housing estates.

Stages: ``panel`` (registers -> person-year panel) -> ``queries`` (measure
tables) -> ``analyses`` (difference-in-differences, figures, report). This
package holds only what composes them: the command line and the synthetic
register generator.
"""

__version__ = "0.1.0"
