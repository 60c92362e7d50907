"""Nothing: ``python -m empty_module`` measures what ``-m`` itself costs."""
