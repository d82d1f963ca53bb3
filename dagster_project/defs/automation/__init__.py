"""When the graph runs unattended: hourly and nightly schedules, automation conditions, retries."""
