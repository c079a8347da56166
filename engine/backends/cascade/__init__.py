"""The ``cascade`` backend: OCR, colour and motion perception plus transcripts, logged with times, answered by SmolLM2.

No vision-language model ships with the project, so this backend sees a stream only through what its shipped parts can
measure: text on screen (PP-OCR through RapidOCR), named colours and where they are, movement and scene cuts (OpenCV),
and what was said (the session's transcripts). A small chat LM turns the retrieved observations into an answer.
"""
