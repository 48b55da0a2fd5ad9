"""Hypothesis strategies that build every valid frame type (shared by round-trip and fuzz tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from aiorsocket.frames import (
    CancelFrame,
    ErrorFrame,
    ExtFrame,
    Frame,
    KeepaliveFrame,
    LeaseFrame,
    MetadataPushFrame,
    PayloadFrame,
    RequestChannelFrame,
    RequestFnfFrame,
    RequestNFrame,
    RequestResponseFrame,
    RequestStreamFrame,
    ResumeFrame,
    ResumeOkFrame,
    SetupFrame,
)

U31 = st.integers(0, 2**31 - 1)
POSITIVE_U31 = st.integers(1, 2**31 - 1)
U63 = st.integers(0, 2**63 - 1)
STREAM_IDS = POSITIVE_U31
DATA = st.binary(max_size=64)
METADATA = st.none() | st.binary(max_size=64)
MIME = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)

setup_frames = st.builds(
    SetupFrame,
    keepalive_interval=POSITIVE_U31,
    max_lifetime=POSITIVE_U31,
    metadata_mime=MIME,
    data_mime=MIME,
    data=DATA,
    metadata=METADATA,
    resume_token=st.none() | st.binary(max_size=32),
    lease=st.booleans(),
    major=st.integers(0, 0xFFFF),
    minor=st.integers(0, 0xFFFF),
)
lease_frames = st.builds(LeaseFrame, ttl=U31, number_of_requests=U31, metadata=METADATA)
keepalive_frames = st.builds(KeepaliveFrame, last_received_position=U63, data=DATA, respond=st.booleans())
request_response_frames = st.builds(
    RequestResponseFrame, stream_id=STREAM_IDS, data=DATA, metadata=METADATA, follows=st.booleans()
)
request_fnf_frames = st.builds(
    RequestFnfFrame, stream_id=STREAM_IDS, data=DATA, metadata=METADATA, follows=st.booleans()
)
request_stream_frames = st.builds(
    RequestStreamFrame,
    stream_id=STREAM_IDS,
    initial_request_n=POSITIVE_U31,
    data=DATA,
    metadata=METADATA,
    follows=st.booleans(),
)
request_channel_frames = st.builds(
    RequestChannelFrame,
    stream_id=STREAM_IDS,
    initial_request_n=POSITIVE_U31,
    data=DATA,
    metadata=METADATA,
    follows=st.booleans(),
    complete=st.booleans(),
)
request_n_frames = st.builds(RequestNFrame, stream_id=STREAM_IDS, request_n=POSITIVE_U31)
cancel_frames = st.builds(CancelFrame, stream_id=STREAM_IDS)
payload_frames = st.builds(
    PayloadFrame,
    stream_id=STREAM_IDS,
    data=DATA,
    metadata=METADATA,
    follows=st.booleans(),
    complete=st.booleans(),
    next=st.booleans(),
)
error_frames = st.builds(ErrorFrame, stream_id=U31, error_code=st.integers(0, 2**32 - 1), data=DATA)
metadata_push_frames = st.builds(MetadataPushFrame, metadata=DATA)
resume_frames = st.builds(
    ResumeFrame,
    resume_token=st.binary(max_size=32),
    last_received_server_position=U63,
    first_available_client_position=U63,
    major=st.integers(0, 0xFFFF),
    minor=st.integers(0, 0xFFFF),
)
resume_ok_frames = st.builds(ResumeOkFrame, last_received_client_position=U63)
ext_frames = st.builds(
    ExtFrame,
    stream_id=U31,
    extended_type=POSITIVE_U31,
    data=DATA,
    metadata=METADATA,
    ignore=st.booleans(),
)

FRAME_STRATEGIES: dict[str, st.SearchStrategy[Frame]] = {
    "SETUP": setup_frames,
    "LEASE": lease_frames,
    "KEEPALIVE": keepalive_frames,
    "REQUEST_RESPONSE": request_response_frames,
    "REQUEST_FNF": request_fnf_frames,
    "REQUEST_STREAM": request_stream_frames,
    "REQUEST_CHANNEL": request_channel_frames,
    "REQUEST_N": request_n_frames,
    "CANCEL": cancel_frames,
    "PAYLOAD": payload_frames,
    "ERROR": error_frames,
    "METADATA_PUSH": metadata_push_frames,
    "RESUME": resume_frames,
    "RESUME_OK": resume_ok_frames,
    "EXT": ext_frames,
}

any_frame: st.SearchStrategy[Frame] = st.one_of(*FRAME_STRATEGIES.values())
