# embed_bytes(VAR FILE): VAR = FILE's bytes as a C initialiser list ("0x12,0x34, ..." 16 a
# line); VAR_len = how many. Included by embed.cmake and embed_web.cmake.
function(embed_bytes var path)
  file(READ "${path}" hex HEX)
  string(LENGTH "${hex}" digits)
  math(EXPR len "${digits} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x..,){16})" "\\1\n    " bytes "${bytes}")
  set(${var} "${bytes}" PARENT_SCOPE)
  set(${var}_len ${len} PARENT_SCOPE)
endfunction()
