"""The Python systems under test of both labs, sharing one definition of the work they do."""
