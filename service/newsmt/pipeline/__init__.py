"""What happens to a request between the servicer and the scheduler.

- `translate`: the Translator: read (detect, parse once), route, translate, put back together;
  `results` (each unit's repair, each text's response), `stream` (TranslateStream),
  `hops` (texts through a route's models), `unit_cache` and `cache` (the translation cache and
  single flight), `nfc` (the form units travel in).
- `documents`: plain text, HTML and Markdown parsed into units and rendered back; protected
  spans, glossaries, alignments.
- `summarize` (map-reduce over the summarizer's window, any language through English) and
  `article` (ProcessArticle: one call per article, stages that fail alone).
- `detect`, `segment` (sentences), `quality` (per-sentence signals), `faithfulness`
  (summaries), `numbers`, `words`, `runaway` (loop cuts), `config`.
"""
