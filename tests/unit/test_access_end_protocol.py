"""The access-end protocol's pieces without a server: SM4 PIN blocks, Beijing time, statType periods,
data codes and item configuration, and the mapping of one upload (each bad record its own error)."""

from __future__ import annotations

from datetime import datetime

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ingestion.access_end import codes, mapping, sm4
from tests.feeds import STEEL

KEY, CODE = "GP0W8AIF8uuf7Go4", "12345678b0123456"  # the YN client's own test values (SM4Test)


def test_the_cipher_is_sm4_by_the_standards_example():
    # GB/T 32907-2016 Appendix A.1: key = plaintext = 0123456789abcdeffedcba9876543210
    block = bytes.fromhex("0123456789abcdeffedcba9876543210")
    enc = Cipher(algorithms.SM4(block), modes.ECB()).encryptor()  # noqa: S305 - one block: the standard's example
    assert (enc.update(block) + enc.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"


def test_password_travels_as_an_sm4_cbc_pin_block_under_the_secret_key_and_credit_code():
    cipher = sm4.encrypt_password("123456", KEY, CODE)
    assert len(cipher) == 32 and cipher == cipher.lower()
    # the block is the length in two digits, the password, F up to 16 characters; IV = the credit code
    dec = Cipher(algorithms.SM4(KEY.encode()), modes.CBC(CODE.encode())).decryptor()
    assert dec.update(bytes.fromhex(cipher)) + dec.finalize() == b"06123456FFFFFFFF"
    assert sm4.decrypt_password(cipher, KEY, CODE) == "123456"
    # only the first 16 characters of a longer key or code count (YN SM4Util)
    assert sm4.decrypt_password(cipher, KEY + "extra", CODE + "XY") == "123456"


def test_a_wrong_secret_key_does_not_decode_and_long_passwords_are_refused():
    cipher = sm4.encrypt_password("abcdef", KEY, STEEL)
    with pytest.raises(sm4.PinBlockError):
        sm4.decrypt_password(cipher, "0" * 16, STEEL)
    with pytest.raises(ValueError, match="1 to 14"):
        sm4.encrypt_password("x" * 15, KEY, STEEL)  # 2 + 15 > 16


def test_stat_date_is_beijing_time_written_with_its_offset():
    assert mapping.to_iso("2026-01-15 00:15:00") == "2026-01-15T00:15:00+08:00"
    assert mapping.to_iso("2026-01-15") == "2026-01-15T00:00:00+08:00"
    with pytest.raises(ValueError, match="Beijing-time"):
        mapping.to_iso("2026-13-45 25:61:00")
    with pytest.raises(ValueError, match="Beijing-time"):
        mapping.to_iso("2026-01-15T00:15:00+08:00")  # an offset is not Beijing time without offset


@pytest.mark.parametrize(
    ("stat_type", "stat_date", "minutes", "start", "end"),
    [
        # real-time: the 15-minute interval that ends at statDate (the 00:00 value is 23:45-24:00)
        ("0", "2026-01-01 00:00:00", None, "2025-12-31 23:45:00", "2026-01-01 00:00:00"),
        ("0", "2026-01-15 10:30:00", 30, "2026-01-15 10:00:00", "2026-01-15 10:30:00"),
        # day: the local day statDate falls in, whatever its time of day
        ("1", "2026-01-15 00:00:00", None, "2026-01-15 00:00:00", "2026-01-16 00:00:00"),
        ("1", "2026-02-28 08:00:00", None, "2026-02-28 00:00:00", "2026-03-01 00:00:00"),
        # month: the calendar month, December into the next year; year: the calendar year
        ("2", "2026-12-01 00:00:00", None, "2026-12-01 00:00:00", "2027-01-01 00:00:00"),
        ("3", "2026-06-30 00:00:00", None, "2026-01-01 00:00:00", "2027-01-01 00:00:00"),
    ],
)
def test_stat_type_gives_the_period(stat_type, stat_date, minutes, start, end):
    got = mapping.period_of(stat_type, mapping.parse_local(stat_date), minutes)
    assert got == (datetime.fromisoformat(start + "+08:00"), datetime.fromisoformat(end + "+08:00"))


def item(code: str, **extra) -> dict:
    return {"dataCode": code, "statType": "0", **extra}


def test_data_code_parts_must_agree_with_the_fields_sent_beside_it():
    assert codes.DataCode.parse("0000000102330021").device == "0001"
    with pytest.raises(mapping.ConfigError) as err:
        mapping.configure_item(item("0000000102330021", energyTypeCode="2100"))
    assert err.value.field == "energyTypeCode" and "3300" in err.value.reason
    with pytest.raises(mapping.ConfigError, match="16 digits"):
        mapping.configure_item(item("00000001023300"))


def test_items_become_meters_totals_products_or_indicators():
    meter = mapping.configure_item(item("0000000102330021", unit="MWh", dataValueMax="40"))
    assert (meter.kind, meter.target, meter.unit, meter.scope, meter.direction) == (
        "meter",
        "electricity",
        "MWh",
        "boundary",
        "in",
    )
    assert mapping.configure_item(item("0000000001010021")).target == "raw_coal"  # no unit given: dictionary's t
    total = mapping.configure_item(item("0000000002330021", statType="1"))
    assert (total.kind, total.target) == ("totals", "electricity")  # whole plant, device 0000
    out = mapping.configure_item(item("0000000102330030"))
    assert out.direction == "out"
    process = mapping.configure_item(item("0600000102330021", scope="2"), {"06"})
    assert process.scope == "clinker_kiln"
    check = mapping.configure_item(item("0000000502330021", scope="4"))
    assert check.scope == "check"
    assert mapping.configure_item(item("0000000004000700")).target == "crude_steel"
    assert mapping.configure_item(item("0000000009000200")).target == "value_added_10k_yuan"


@pytest.mark.parametrize(
    ("code", "field", "words"),
    [
        ("0000000102330040", "dataUsageCode", "recovered energy"),  # 回收利用: no mapping, never guessed
        ("0000000102330031", "dataUsageCode", "no verified meaning"),
        ("0000000005330021", "dataCode", "coefficients as a time series"),  # class 05
        ("0000000002990021", "energyTypeCode", "not in the dictionary"),
        ("0600000102330021", "processCode", "not configured"),
    ],
)
def test_items_contract_v1_1_cannot_hold_are_refused_with_the_reason(code, field, words):
    with pytest.raises(mapping.ConfigError) as err:
        mapping.configure_item(item(code, scope="2" if code.startswith("06") else "1"), set())
    assert err.value.field == field and words in err.value.reason


def test_metering_instrument_gives_multiplier_register_calibration_and_installation():
    it = mapping.configure_item(item("0000000102330021", dataValueMax="4000"))
    row = mapping.meter_row(
        STEEL,
        it,
        {
            "ct": "40",
            "pt": "5",
            "meteringCalculateType": 0,
            "registerMax": "9999999",
            "nextCalibration": "2027-03-01",
            "latelyCalibration": "2026-03-01 09:30:00",
            "meteringLevel": 1,
            "accuracyLevel": "0.5S",
            "installDate": "2025-06-01 08:00:00",
        },
    )
    assert row["multiplier"] == "200" and row["reading_type"] == "register" and row["register_max"] == "9999999"
    assert row["calibration_valid_until"] == "2027-03-01" and row["installed_at"] == "2025-06-01T08:00:00+08:00"
    assert row["meter_id"] == "0000000102330021" and row["rated_max"] == "4000"
    # the instrument's own metadata travels too (contract v1.1 meter fields)
    assert (row["metering_level"], row["accuracy_class"], row["calibrated_on"]) == ("1", "0.5S", "2026-03-01")
    assert (row["ct_ratio"], row["pt_ratio"]) == ("40", "5")
    assert mapping.meter_row(STEEL, it, {"magnification": "80", "ct": "40", "pt": "5"})["multiplier"] == "80"


def test_an_upload_maps_each_record_and_rejects_only_the_bad_ones():
    items = {
        "0000000102330021": mapping.configure_item(item("0000000102330021")),
        "0000000009000100": mapping.configure_item(item("0000000009000100", statType="2")),
        "0000000009000200": mapping.configure_item(item("0000000009000200", statType="2")),
    }
    records = [
        {"dataCode": "0000000102330021", "dataValue": "812.5", "statType": 0, "statDate": "2026-01-15 00:15:00"},
        {"dataCode": "0000000102330021", "dataValue": "807", "statType": 0, "statDate": "2026-13-45 25:61:00"},
        {"dataCode": "0000009902330021", "dataValue": "1", "statType": 0, "statDate": "2026-01-15 00:15:00"},
        {"dataCode": "0000000009000100", "dataValue": "3117.4", "statType": 2, "statDate": "2026-01-01 00:00:00"},
        {"dataCode": "0000000009000200", "dataValue": "865.9", "statType": 2, "statDate": "2026-01-01 00:00:00"},
        "not an object",
    ]
    out = mapping.map_upload(STEEL, {"uploadDate": "2026-01-15 00:20:00"}, records, items)
    assert out.rows["readings"] == [
        (
            1,
            {
                "enterprise_id": STEEL,
                "meter_id": "0000000102330021",
                "period_start": "2026-01-15T00:00:00+08:00",
                "period_end": "2026-01-15T00:15:00+08:00",
                "value": "812.5",
                "quality": "measured",
                "sent_at": "2026-01-15T00:20:00+08:00",
                "unit": "kWh",
            },
        ),
    ]
    reasons = {r["row_number"]: (r["field"], r["reason"]) for r in out.rejects["readings"]}
    assert reasons[2][0] == "statDate" and "Beijing-time" in reasons[2][1]
    assert reasons[3][0] == "dataCode" and reasons[3][1].startswith("unknown meter")  # classified like a file's
    assert reasons[6][1] == "record is not a JSON object"
    # both indicators of a month in one message make one economics row
    assert out.rows["economics"] == [
        (
            4,
            {
                "enterprise_id": STEEL,
                "month": "2026-01",
                "sent_at": "2026-01-15T00:20:00+08:00",
                "gross_output_10k_yuan": "3117.4",
                "value_added_10k_yuan": "865.9",
            },
        ),
    ]
    assert out.merged == {5: 4}


def test_a_message_with_one_indicator_keeps_the_other_from_the_latest_version():
    items = {"0000000009000200": mapping.configure_item(item("0000000009000200", statType="2"))}
    rec = {
        "dataCode": "0000000009000200",
        "dataValue": "900",
        "statType": 2,
        "statDate": "2026-01-01 00:00:00",
        "uploadDate": "2026-02-10 09:00:00",
    }
    out = mapping.map_upload(
        STEEL, {}, [rec], items, previous_economics=lambda month: {"gross_output_10k_yuan": 3117.4}
    )
    assert out.rows["economics"][0][1]["gross_output_10k_yuan"] == "3117.4"
    assert out.rows["economics"][0][1]["value_added_10k_yuan"] == "900"


def test_dictionaries_are_served_from_the_seeds():
    energy = codes.dictionary(8)["EnergyTypeUnitCollectCodes"]
    electricity = next(r for r in energy if r["code"] == "3300")
    assert electricity["collectRatio"] == "0.1229" and electricity["collectUnit"] == "kgce/kWh"  # GB/T 2589 当量值
    assert {"code": "130000", "name": "河北省"} in codes.dictionary(1)["RegionCodes"]
    assert codes.dictionary(4)["processUnitCodes"] == [] and "no table" in codes.dictionary(4)["note"]
    assert codes.is_public_dictionary(1) and not codes.is_public_dictionary(8)
    assert codes.dictionary_version().startswith("D")


def test_the_service_and_its_client_are_a_library_without_dagster():
    import subprocess
    import sys

    code = "import sys, ingestion.access_end.app, ingestion.access_end.client; sys.exit('dagster' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
