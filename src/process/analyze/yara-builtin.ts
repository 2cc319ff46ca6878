/**
 * Rules that ship inside falc (compiled into the binary), compiled by libyara with the user rule files.
 * meta.score is a Cuckoo3 score level; meta.family names a known family (score 10).
 * Conditions test cheap things first (filesize, header bytes, anchored windows) so a file that cannot
 * match costs no full pass: the Windows tool rules skip ELF files (uint32(0) == 0x464c457f).
 */
export const BUILTIN_RULES = String.raw`
rule EICAR_Test_File : test
{
  meta:
    description = "EICAR anti-virus test file"
    family = "EICAR-Test-File"
    score = 10
  strings:
    $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
  condition:
    filesize < 256 and $eicar at 0
}

rule UPX_Packed : packer
{
  meta:
    description = "Packed with UPX (section names and the UPX! header near the start)"
    score = 6
  strings:
    $upx0 = "UPX0"
    $upx1 = "UPX1"
    $upx2 = "UPX!"
  condition:
    ($upx0 in (0..4096) and $upx1 in (0..4096)) or $upx2 in (0..4096)
}

rule PowerShell_Encoded_Command : powershell
{
  meta:
    description = "Runs PowerShell with a base64-encoded command"
    score = 8
  strings:
    $enc = /powershell(\.exe)?["']?\s+(-[a-z]+\s+)*-e(nc|ncodedcommand)?\s+[A-Za-z0-9+\/=]{40,}/ nocase ascii wide
  condition:
    filesize < 20MB and uint32(0) != 0x464c457f and $enc
}

rule Mimikatz_Strings : credential_theft
{
  meta:
    description = "Mimikatz credential dumping tool"
    family = "Mimikatz"
    score = 10
  strings:
    $a = "sekurlsa::logonpasswords" nocase ascii wide
    $b = "gentilkiwi" nocase ascii wide
    $c = "mimikatz" nocase ascii wide
  condition:
    filesize < 20MB and uint32(0) != 0x464c457f and 2 of them
}

rule PDF_JavaScript_OpenAction : pdf
{
  meta:
    description = "A PDF that runs JavaScript when opened"
    score = 6
  strings:
    $js = "/JavaScript"
    $open = "/OpenAction"
    $aa = "/AA"
  condition:
    uint32(0) == 0x46445025 and $js and ($open or $aa)
}

rule Shadow_Copy_Deletion : ransomware
{
  meta:
    description = "Deletes volume shadow copies (ransomware recovery prevention)"
    score = 9
  strings:
    $vss = /vssadmin(\.exe)?\s+delete\s+shadows/ nocase ascii wide
    $wmic = /wmic(\.exe)?\s+shadowcopy\s+delete/ nocase ascii wide
    $bcd = /bcdedit(\.exe)?\s+\/set\s+\{default\}\s+recoveryenabled\s+no/ nocase ascii wide
  condition:
    filesize < 20MB and uint32(0) != 0x464c457f and any of them
}
`;
