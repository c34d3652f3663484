"""Settings built from several environment variables at once, kept out of ``touchstone/settings.py``.

Each module returns values that ``touchstone.settings`` assigns to the settings of the same
name; the settings module stays the one place that names every setting.
"""
