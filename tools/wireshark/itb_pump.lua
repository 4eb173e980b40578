-- Wireshark dissector for captures of the ITB pump link (docs/protocol.md, section 15).
--
-- A capture is classic pcap with link type 147 (DLT_USER0); each record is a direction byte
-- (0 programmer -> pump, 1 pump -> programmer) and the bytes on the wire: one delimited frame
-- (SLIP, 0xC0 delimiters, section 2), or a run of bytes that is not one. This dissector
-- unescapes the frame and checks it in the order a receiver does (section 2, checks 1 to 6):
-- framing, length, CRC-16/CCITT-FALSE, version, flags, length field; it shows the header,
-- the message type, the payload, the tag of a signed frame (not checked: that needs the
-- session key) and an error reply's reason. Payloads other than ERROR are shown as bytes:
-- `pump-programmer decode --capture FILE` decodes every field.
--
-- Use:  wireshark -X lua_script:tools/wireshark/itb_pump.lua capture.pcap
--       tshark -r capture.pcap -X lua_script:tools/wireshark/itb_pump.lua -V
-- or copy it to ~/.local/lib/wireshark/plugins/. It claims DLT_USER0 (link type 147) for
-- itself, in place of Wireshark's "User DLTs" table.

local itb = Proto("itb_pump", "ITB pump link")

local END, ESC, ESC_END, ESC_ESC = 0xC0, 0xDB, 0xDC, 0xDD
local MAX_STUFFED_LEN = 1024
local MAX_FRAME_LEN = 512
local MIN_FRAME_LEN = 9 -- header (7) and CRC (2)
local MAX_PAYLOAD_LEN = 487
local HEADER_LEN, AUTH_LEN, TAG_LEN, CRC_LEN = 7, 8, 8, 2
local REPLY, NOTIFICATION, AUTH = 0x01, 0x02, 0x04
local KNOWN_FLAGS = 0x07
local ERROR_TYPE = 0x7F
local READ_LOG_PAGES_TYPE = 0x21

-- Section 6.
local TYPES = {
    [0x01] = "HELLO",
    [0x02] = "SESSION_OPEN",
    [0x03] = "SESSION_AUTH",
    [0x04] = "SESSION_CLOSE",
    [0x10] = "GET_STATUS",
    [0x11] = "GET_PRESCRIPTION",
    [0x12] = "STAGE_PRESCRIPTION",
    [0x13] = "COMMIT_PRESCRIPTION",
    [0x14] = "BOLUS",
    [0x15] = "PRIME",
    [0x16] = "PATIENT_BOLUS",
    [0x17] = "STOP",
    [0x18] = "START",
    [0x19] = "REFILL",
    [0x1A] = "GET_ALARMS",
    [0x1B] = "ACK_ALARM",
    [0x1C] = "READ_LOG",
    [0x1D] = "GET_CLOCK",
    [0x1E] = "SET_CLOCK",
    [0x1F] = "GET_LIMITS",
    [0x20] = "GET_OUTCOME",
    [0x21] = "READ_LOG_PAGES",
    [0x40] = "ALARM_NOTIFICATION",
    [0x7F] = "ERROR",
}

-- Section 8, reason codes.
local REASONS = {
    [0x01] = "BAD_CRC",
    [0x02] = "BAD_FRAMING",
    [0x03] = "FRAME_TOO_SHORT",
    [0x04] = "FRAME_TOO_LONG",
    [0x05] = "UNSUPPORTED_VERSION",
    [0x06] = "UNKNOWN_FLAGS",
    [0x07] = "BAD_LENGTH",
    [0x10] = "UNKNOWN_MESSAGE",
    [0x11] = "BAD_PAYLOAD",
    [0x12] = "WRONG_DIRECTION",
    [0x20] = "VALUE_OUT_OF_RANGE",
    [0x21] = "WRONG_STATE",
    [0x22] = "CONFIRMATION_REQUIRED",
    [0x23] = "DRUG_LIMIT",
    [0x24] = "DOSE_CHANGE_LIMIT",
    [0x25] = "DOSE_REENTRY_REQUIRED",
    [0x26] = "NOT_PERMITTED",
    [0x27] = "LOCKOUT",
    [0x28] = "DAILY_LIMIT",
    [0x29] = "NO_DRUG",
    [0x2A] = "NO_SUCH_ALARM",
    [0x2B] = "NOTHING_STAGED",
    [0x2C] = "DIGEST_MISMATCH",
    [0x30] = "NOT_AUTHENTICATED",
    [0x31] = "UNKNOWN_SESSION",
    [0x32] = "BAD_TAG",
    [0x33] = "REPLAYED",
    [0x34] = "AUTH_FAILED",
    [0x35] = "RATE_LIMITED",
    [0x36] = "LOCKED_OUT",
    [0x37] = "FORBIDDEN",
    [0x38] = "NO_KEY",
    [0x39] = "UNKNOWN_CHALLENGE",
    [0x7F] = "INTERNAL_ERROR",
}

local DIRECTIONS = { [0] = "programmer -> pump", [1] = "pump -> programmer" }
local ENDS = { [0] = { "programmer", "pump" }, [1] = { "pump", "programmer" } }
local KINDS = { [0] = "request", [1] = "reply", [2] = "notification", [3] = "notification" }
local CRC_STATUS = { [0] = "Bad", [1] = "Good" }

local f = itb.fields
f.direction = ProtoField.uint8("itb_pump.direction", "Direction", base.DEC, DIRECTIONS)
f.record = ProtoField.string("itb_pump.record", "Record")
f.not_a_frame = ProtoField.string("itb_pump.not_a_frame", "Not a frame")
f.problem = ProtoField.string("itb_pump.problem", "Receiver would report")
f.delimiters = ProtoField.uint16("itb_pump.leading_delimiters", "Leading delimiters")
f.stuffed = ProtoField.bytes("itb_pump.stuffed", "Stuffed bytes")
f.version = ProtoField.uint8("itb_pump.version", "Version")
f.flags = ProtoField.uint8("itb_pump.flags", "Flags", base.HEX)
f.flag_reply = ProtoField.bool("itb_pump.flags.reply", "REPLY", 8, nil, REPLY)
f.flag_notification =
    ProtoField.bool("itb_pump.flags.notification", "NOTIFICATION", 8, nil, NOTIFICATION)
f.flag_auth = ProtoField.bool("itb_pump.flags.auth", "AUTH (signed)", 8, nil, AUTH)
f.flag_reserved = ProtoField.uint8("itb_pump.flags.reserved", "Reserved", base.HEX, nil, 0xF8)
f.kind = ProtoField.string("itb_pump.kind", "Kind")
f.seq = ProtoField.uint16("itb_pump.seq", "Sequence number")
f.type = ProtoField.uint8("itb_pump.type", "Message type", base.HEX, TYPES)
f.length = ProtoField.uint16("itb_pump.length", "Payload length")
f.session = ProtoField.uint32("itb_pump.session", "Session id")
f.counter = ProtoField.uint32("itb_pump.counter", "Counter")
f.payload = ProtoField.bytes("itb_pump.payload", "Payload")
f.tag = ProtoField.bytes("itb_pump.tag", "Tag (first 8 bytes of HMAC-SHA256; not checked)")
f.crc = ProtoField.uint16("itb_pump.crc", "CRC", base.HEX)
f.crc_computed = ProtoField.uint16("itb_pump.crc.computed", "Computed CRC", base.HEX)
f.crc_status = ProtoField.uint8("itb_pump.crc.status", "CRC status", base.DEC, CRC_STATUS)
f.error_reason = ProtoField.uint8("itb_pump.error.reason", "Reason", base.HEX, REASONS)
f.error_request_type =
    ProtoField.uint8("itb_pump.error.request_type", "Request type", base.HEX, TYPES)
f.error_message = ProtoField.string("itb_pump.error.message", "Message")
-- READ_LOG_PAGES (section 7, "Reading the log in bursts"): the request, and each page of the
-- burst that answers it.
f.burst_first = ProtoField.uint32("itb_pump.burst.first", "First entry index")
f.burst_max_entries = ProtoField.uint8("itb_pump.burst.max_entries", "Most entries a page")
f.burst_max_pages = ProtoField.uint8("itb_pump.burst.max_pages", "Most pages")
f.burst_page = ProtoField.uint8("itb_pump.burst.page", "Page of the burst (from 0)")
f.burst_pages = ProtoField.uint8("itb_pump.burst.pages", "Pages in the burst")
f.burst_entries = ProtoField.uint8("itb_pump.burst.entries", "Entries on the page")

local e_bad_crc = ProtoExpert.new("itb_pump.crc.bad", "Bad CRC", expert.group.CHECKSUM,
    expert.severity.ERROR)
local e_malformed = ProtoExpert.new("itb_pump.malformed", "Not a valid frame",
    expert.group.MALFORMED, expert.severity.ERROR)
local e_not_a_frame = ProtoExpert.new("itb_pump.not_a_frame.expert", "Bytes that are not a frame",
    expert.group.MALFORMED, expert.severity.WARN)
itb.experts = { e_bad_crc, e_malformed, e_not_a_frame }

-- Bit operations on every Lua Wireshark has shipped with: bit32 (5.2), bit (LuaBitOp), or the
-- native operators of 5.3 and later (compiled from a string, so 5.2 never parses them).
local band, bxor, lshift
if bit32 then
    band, bxor, lshift = bit32.band, bit32.bxor, bit32.lshift
elseif bit then
    band, bxor, lshift = bit.band, bit.bxor, bit.lshift
else
    band, bxor, lshift = load([[return function(a, b) return a & b end,
        function(a, b) return a ~ b end, function(a, n) return a << n end]])()
end

-- CRC-16/CCITT-FALSE: polynomial 0x1021, initial 0xFFFF, no reflection, final XOR 0.
local function crc16(bytes, first, last)
    local crc = 0xFFFF
    for i = first, last do
        crc = bxor(crc, lshift(bytes[i], 8))
        for _ = 1, 8 do
            if band(crc, 0x8000) ~= 0 then
                crc = band(bxor(lshift(crc, 1), 0x1021), 0xFFFF)
            else
                crc = band(lshift(crc, 1), 0xFFFF)
            end
        end
    end
    return crc
end

-- Undo SLIP stuffing; nil when an escape byte is not followed by one of its two codes.
local function unstuff(tvb, offset, length)
    local out, i = {}, 0
    while i < length do
        local b = tvb(offset + i, 1):uint()
        if b == ESC then
            local code = i + 1 < length and tvb(offset + i + 1, 1):uint() or nil
            if code == ESC_END then
                b = END
            elseif code == ESC_ESC then
                b = ESC
            else
                return nil
            end
            i = i + 1
        end
        out[#out + 1] = b
        i = i + 1
    end
    return out
end

local function to_tvb(bytes)
    local array = ByteArray.new()
    array:set_size(#bytes)
    for i = 1, #bytes do
        array:set_index(i - 1, bytes[i])
    end
    return array:tvb("Unescaped frame")
end

-- Per direction, whether the last record was a chunk cut at the length limit: the run that
-- follows is its rest. Computed on the first, in-order pass and kept per packet.
local cut_in = {}
local cut_before = {}

function itb.init()
    cut_in = {}
    cut_before = {}
end

local function summary(pinfo, direction, text)
    pinfo.cols.info:set(DIRECTIONS[direction] .. "  " .. text)
end

-- Check a frame's body as a receiver does (section 2, checks 1 to 6) and show its fields.
local function dissect_frame(tvb, pinfo, tree, direction, start, stuffed_len)
    tree:add(f.stuffed, tvb(start, stuffed_len))
    if stuffed_len > MAX_STUFFED_LEN then
        tree:add(f.problem, "FRAME_TOO_LONG")
        tree:add_proto_expert_info(e_malformed, stuffed_len .. " stuffed bytes")
        return "FRAME_TOO_LONG: " .. stuffed_len .. " stuffed bytes"
    end
    local bytes = unstuff(tvb, start, stuffed_len)
    if bytes == nil then
        tree:add(f.problem, "BAD_FRAMING")
        tree:add_proto_expert_info(e_malformed, "escape byte 0xDB not followed by 0xDC or 0xDD")
        return "BAD_FRAMING: escape byte 0xDB not followed by 0xDC or 0xDD"
    end
    local size = #bytes
    if size < MIN_FRAME_LEN or size > MAX_FRAME_LEN then
        local reason = size < MIN_FRAME_LEN and "FRAME_TOO_SHORT" or "FRAME_TOO_LONG"
        tree:add(f.problem, reason)
        tree:add_proto_expert_info(e_malformed, size .. " bytes unescaped")
        return reason .. ": " .. size .. " bytes"
    end
    local body = to_tvb(bytes)
    local flags = body(1, 1):uint()
    local auth = band(flags, AUTH) ~= 0 and size >= HEADER_LEN + AUTH_LEN + TAG_LEN + CRC_LEN
    local length = body(5, 2):uint()
    tree:add(f.version, body(0, 1))
    local flags_item = tree:add(f.flags, body(1, 1))
    flags_item:add(f.flag_reply, body(1, 1))
    flags_item:add(f.flag_notification, body(1, 1))
    flags_item:add(f.flag_auth, body(1, 1))
    flags_item:add(f.flag_reserved, body(1, 1))
    local kind = KINDS[band(flags, REPLY + NOTIFICATION)]
    tree:add(f.kind, kind)
    tree:add(f.seq, body(2, 2))
    tree:add(f.type, body(4, 1))
    tree:add(f.length, body(5, 2))
    local payload_at = HEADER_LEN
    local payload_end = size - CRC_LEN -- exclusive
    if auth then
        tree:add(f.session, body(7, 4))
        tree:add(f.counter, body(11, 4))
        payload_at = HEADER_LEN + AUTH_LEN
        payload_end = size - CRC_LEN - TAG_LEN
    end
    if payload_end > payload_at then
        tree:add(f.payload, body(payload_at, payload_end - payload_at))
    end
    if auth then
        tree:add(f.tag, body(payload_end, TAG_LEN))
    end
    local crc = body(size - CRC_LEN, CRC_LEN):uint()
    local computed = crc16(bytes, 1, size - CRC_LEN)
    local crc_item = tree:add(f.crc, body(size - CRC_LEN, CRC_LEN))
    crc_item:add(f.crc_computed, computed)
    local version = body(0, 1):uint()
    local msg_type = body(4, 1):uint()
    local name = TYPES[msg_type] or string.format("type 0x%02X", msg_type)
    local what = string.format("%s %s seq %d", kind, name, body(2, 2):uint())
    if auth then
        what = what .. string.format(" session %d counter %d", body(7, 4):uint(),
            body(11, 4):uint())
    end
    local problem
    if crc ~= computed then
        crc_item:add(f.crc_status, 0)
        crc_item:add_proto_expert_info(e_bad_crc,
            string.format("CRC 0x%04X, computed 0x%04X", crc, computed))
        problem = string.format("BAD_CRC: CRC 0x%04X, computed 0x%04X", crc, computed)
    else
        crc_item:add(f.crc_status, 1)
        local expected = length + MIN_FRAME_LEN + (band(flags, AUTH) ~= 0 and AUTH_LEN + TAG_LEN or 0)
        if version ~= 1 and version ~= 2 then
            problem = "UNSUPPORTED_VERSION: header version " .. version
        elseif band(flags, 0xFF - KNOWN_FLAGS) ~= 0 then
            problem = string.format("UNKNOWN_FLAGS: flags 0x%02X", flags)
        elseif length > MAX_PAYLOAD_LEN then
            problem = "BAD_LENGTH: length field " .. length .. ", limit " .. MAX_PAYLOAD_LEN
        elseif size ~= expected then
            problem = "BAD_LENGTH: length field " .. length .. ", frame " .. size .. " bytes"
        end
    end
    if problem then
        tree:add(f.problem, problem:match("^[A-Z_]+"))
        if crc == computed then
            tree:add_proto_expert_info(e_malformed, problem)
        end
        return problem .. " (" .. what .. ")"
    end
    if msg_type == ERROR_TYPE and payload_end - payload_at >= 3 then
        local reason = body(payload_at, 1):uint()
        tree:add(f.error_reason, body(payload_at, 1))
        tree:add(f.error_request_type, body(payload_at + 1, 1))
        local text_len = body(payload_at + 2, 1):uint()
        if payload_at + 3 + text_len <= payload_end then
            tree:add(f.error_message, body(payload_at + 3, text_len))
        end
        what = what .. " " .. (REASONS[reason] or string.format("reason 0x%02X", reason))
    elseif msg_type == READ_LOG_PAGES_TYPE and kind == "request" and payload_end - payload_at == 6 then
        tree:add(f.burst_first, body(payload_at, 4))
        tree:add(f.burst_max_entries, body(payload_at + 4, 1))
        tree:add(f.burst_max_pages, body(payload_at + 5, 1))
        what = what .. string.format(" from %d, %d pages of %d entries at most",
            body(payload_at, 4):uint(), body(payload_at + 5, 1):uint(),
            body(payload_at + 4, 1):uint())
    elseif msg_type == READ_LOG_PAGES_TYPE and kind == "reply" and payload_end - payload_at >= 19 then
        local page = body(payload_at, 1):uint()
        local pages = body(payload_at + 1, 1):uint()
        tree:add(f.burst_page, body(payload_at, 1))
        tree:add(f.burst_pages, body(payload_at + 1, 1))
        tree:add(f.burst_entries, body(payload_at + 18, 1))
        what = what .. string.format(" page %d of %d (%d entries)%s", page + 1, pages,
            body(payload_at + 18, 1):uint(), page + 1 == pages and ", last" or "")
    end
    return what
end

function itb.dissector(tvb, pinfo, root)
    local total = tvb:len()
    if total < 1 then
        return 0
    end
    pinfo.cols.protocol:set("ITB-PUMP")
    local tree = root:add(itb, tvb())
    local direction = tvb(0, 1):uint()
    tree:add(f.direction, tvb(0, 1))
    local ends = ENDS[direction]
    if ends then
        pinfo.cols.src:set(ends[1])
        pinfo.cols.dst:set(ends[2])
    end
    -- The record's shape (docs/protocol.md, section 15): leading delimiters, one chunk, and
    -- the closing delimiter for a frame; anything else is a run of bytes that is not one.
    local first = 1
    while first < total and tvb(first, 1):uint() == END do
        first = first + 1
    end
    local inner = total - first
    local closed = inner > 0 and tvb(total - 1, 1):uint() == END
    local chunk_len = closed and inner - 1 or inner
    local one_chunk = true
    for i = first, first + chunk_len - 1 do
        if tvb(i, 1):uint() == END then
            one_chunk = false
            break
        end
    end
    if not pinfo.visited then
        cut_before[pinfo.number] = cut_in[direction] or false
    end
    local rest_of_cut = cut_before[pinfo.number]
    if first > 1 then
        tree:add(f.delimiters, tvb(1, first - 1), first - 1)
    end
    if closed and one_chunk then
        if not pinfo.visited then
            cut_in[direction] = false
        end
        tree:add(f.record, "frame")
        summary(pinfo, direction, dissect_frame(tvb, pinfo, tree, direction, first, chunk_len))
        return total
    end
    local why
    if inner == 0 then
        why = "delimiters only: empty chunks, which receivers ignore"
    elseif not one_chunk then
        why = "more than one chunk in one record: not written by CaptureWriter"
    elseif rest_of_cut and first == 1 then -- no delimiter since the cut
        why = "the rest of a chunk over the length limit, up to the next delimiter"
    elseif chunk_len > MAX_STUFFED_LEN then
        why = "more than " .. MAX_STUFFED_LEN .. " bytes without a delimiter (FRAME_TOO_LONG)"
    else
        why = "no closing delimiter: the capture ends here"
    end
    if not pinfo.visited and not (rest_of_cut and first == 1 and one_chunk and inner > 0) then
        cut_in[direction] = chunk_len > MAX_STUFFED_LEN and one_chunk
    end
    tree:add(f.record, "not a frame")
    tree:add(f.not_a_frame, why)
    if inner > 0 then
        tree:add(f.stuffed, tvb(first, inner))
    end
    tree:add_proto_expert_info(e_not_a_frame, why)
    summary(pinfo, direction, "not a frame: " .. why)
    return total
end

local encap = wtap_encaps and wtap_encaps.USER0 or wtap.USER0
DissectorTable.get("wtap_encap"):add(encap, itb)
