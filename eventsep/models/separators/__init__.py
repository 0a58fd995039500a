"""Text-queried separators: AudioSep (mask-based, 32 kHz) and FlowSep (generative, 16 kHz)."""
