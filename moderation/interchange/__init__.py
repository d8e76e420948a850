"""Moving comments in and out: one reader per foreign format (WordPress WXR, Disqus XML, an Isso
database, a Remark42 backup, our own JSON) that turns a file into `records`, and the writers of our
JSON and of WXR. Pure Python: no database, no Flask; `services.imports` and `services.exports`
do the storing and the reading."""
