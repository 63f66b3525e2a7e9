"""What happens to a request between the servicer and the scheduler: language detection,
sentence segmentation, pivoting through English, and chunked summarization."""
