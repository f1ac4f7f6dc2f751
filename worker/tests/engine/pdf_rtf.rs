//! Engine tests: pdf_rtf.
