"""The notebook reports in reports/, rendered by papermill for every month after the marts they read change."""
