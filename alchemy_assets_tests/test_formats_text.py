from alchemy_assets.formats.text import decode


def test_text_that_is_not_utf8_is_decoded_as_cp1252_and_the_first_bad_byte_is_named() -> None:
    text, note = decode("id,name\n1,Müller ™\n".encode("cp1252"))
    assert text == "id,name\n1,Müller ™\n"
    assert note == "not UTF-8 (0xfc at byte 11 (line 2)); decoded as cp1252 for the preview"
    assert decode(b"\xef\xbb\xbfa\n") == ("a\n", None)
    assert decode(b"\x81\xe9")[0] == "\x81é"  # not cp1252 either: Latin-1
