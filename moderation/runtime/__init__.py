"""The running service: the server and its workers (`server`), the job queue (`jobs`), logs,
the thread cache, and the process settings and submission gate (`process`)."""
