// The translation unit that builds the shared precompiled headers (CMakeLists.txt, TFGRPO_PCH).
