use super::*;

#[test]
fn the_text_form_reads_every_field_and_map() {
    let report = LoadReport::parse(
        b"TEXT cpu_utilization=0.3, mem_utilization=0.8,rps_fractional=10, eps=1, \
          application_utilization=0.5, named_metrics.foo=-2, utilization.gpu=0.25, request_cost.db=7",
    )
    .unwrap();
    assert_eq!(
        report,
        LoadReport {
            cpu_utilization: 0.3,
            mem_utilization: 0.8,
            application_utilization: 0.5,
            rps_fractional: 10.0,
            eps: 1.0,
            request_cost: vec![("db".into(), 7.0)],
            utilization: vec![("gpu".into(), 0.25)],
            named_metrics: vec![("foo".into(), -2.0)],
        }
    );
}

#[test]
fn the_json_form_takes_both_spellings_and_nested_maps() {
    let snake = LoadReport::parse(
        br#"JSON {"cpu_utilization": 0.3, "rps_fractional": 10, "named_metrics": {"foo": 1.5e1}}"#,
    )
    .unwrap();
    let camel = LoadReport::parse(
        br#"JSON {"cpuUtilization":0.3,"rpsFractional":10,"namedMetrics":{"foo":15}}"#,
    )
    .unwrap();
    assert_eq!(snake, camel);
    assert_eq!(snake.named_metrics, vec![("foo".to_string(), 15.0)]);
}

#[test]
fn bad_reports_are_refused_with_the_field_or_place() {
    let err = |text: &[u8]| LoadReport::parse(text).unwrap_err();
    assert_eq!(err(b"TEXT cpu=0.3"), OrcaError::UnknownField("cpu".into()));
    assert!(
        matches!(err(b"TEXT cpu_utilization=-1"), OrcaError::Value { field, .. } if field == "cpu_utilization")
    );
    assert!(matches!(err(b"TEXT eps=NaN"), OrcaError::Value { field, .. } if field == "eps"));
    assert!(matches!(err(b"TEXT eps=inf"), OrcaError::Value { .. }));
    assert!(matches!(err(b"TEXT eps"), OrcaError::Syntax { at: 4, .. }));
    assert!(matches!(err(b"TEXT eps=1,,"), OrcaError::Syntax { .. }));
    assert!(matches!(err(b"XML <a/>"), OrcaError::Format(_)));
    assert!(matches!(
        err(b"TEXTcpu_utilization=1"),
        OrcaError::Format(_)
    ));
    assert!(matches!(
        err(br#"JSON {"eps": 1"#),
        OrcaError::Syntax { .. }
    ));
    assert!(matches!(
        err(br#"JSON {"eps": 1} x"#),
        OrcaError::Syntax { .. }
    ));
    assert!(matches!(
        err(br#"JSON {"eps": "1"}"#),
        OrcaError::Syntax { .. }
    ));
    assert!(matches!(
        err(br#"JSON {"bogus": {"a": 1}}"#),
        OrcaError::UnknownField(_)
    ));
    assert!(matches!(
        err(b"TEXT named_metrics.=1"),
        OrcaError::UnknownField(_)
    ));
    // Named metrics may be negative; utilizations may not.
    assert!(LoadReport::parse(b"TEXT named_metrics.x=-1").is_ok());
    assert!(
        matches!(err(b"TEXT utilization.x=-1"), OrcaError::Value { field, .. } if field == "utilization.x")
    );
}

#[test]
fn empty_reports_parse_and_give_no_weight() {
    for text in [&b"TEXT"[..], b"TEXT ", b"JSON {}", b"  JSON { }"] {
        let report = LoadReport::parse(text).unwrap();
        assert_eq!(report, LoadReport::default());
        assert_eq!(report.weight(1.0), None);
    }
}

#[test]
fn the_weight_is_a58s_and_application_utilization_comes_first() {
    let mut report = LoadReport {
        cpu_utilization: 0.8,
        rps_fractional: 100.0,
        eps: 10.0,
        ..LoadReport::default()
    };
    assert_eq!(report.weight(0.0), Some(125.0));
    assert_eq!(report.weight(2.0), Some(100.0 / (0.8 + 0.2)));
    report.application_utilization = 0.5;
    assert_eq!(report.weight(0.0), Some(200.0));
    report.rps_fractional = 0.0;
    assert_eq!(report.weight(0.0), None);
}

#[test]
fn the_deprecated_integer_rps_stands_in_when_the_fraction_is_missing() {
    // field 3 (varint) = 42
    assert_eq!(
        LoadReport::decode(&[0x18, 42]).unwrap().rps_fractional,
        42.0
    );
    let text = LoadReport::parse(b"TEXT rps=7, rps_fractional=2.5").unwrap();
    assert_eq!(text.rps_fractional, 2.5);
}

#[test]
fn binary_reports_round_trip_and_skip_unknown_fields() {
    let report = LoadReport {
        cpu_utilization: 0.25,
        rps_fractional: 1234.5,
        named_metrics: vec![("q".into(), 3.0), ("r".into(), -1.0)],
        ..LoadReport::default()
    };
    let mut bytes = report.encode();
    // An unknown field 20 (varint) and 21 (length-delimited) in between.
    bytes.extend_from_slice(&[0xa0, 0x01, 0x05, 0xaa, 0x01, 0x02, b'h', b'i']);
    assert_eq!(LoadReport::decode(&bytes).unwrap(), report);
    let bin = report.to_bin();
    assert_eq!(LoadReport::parse_bin(bin.as_bytes()).unwrap(), report);
    assert_eq!(
        LoadReport::parse_bin(bin.trim_end_matches('=').as_bytes()).unwrap(),
        report
    );
}

#[test]
fn broken_binary_reports_are_refused() {
    assert!(matches!(
        LoadReport::decode(&[0x09, 1, 2]),
        Err(OrcaError::Binary(_))
    ));
    assert!(matches!(
        LoadReport::decode(&[0x08, 1]),
        Err(OrcaError::Binary(_))
    ));
    assert!(matches!(
        LoadReport::decode(&[0xff; 11]),
        Err(OrcaError::Binary(_))
    ));
    assert!(matches!(
        LoadReport::parse_bin(b"a$=="),
        Err(OrcaError::Binary(_))
    ));
    assert!(matches!(
        LoadReport::parse_bin(b"abcde"),
        Err(OrcaError::Binary(_))
    ));
    // A negative utilization in binary form is refused as in text.
    let bad = LoadReport {
        cpu_utilization: -0.5,
        ..LoadReport::default()
    }
    .encode();
    assert!(matches!(
        LoadReport::decode(&bad),
        Err(OrcaError::Value { .. })
    ));
}

#[test]
fn base64_matches_the_standard_vectors() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(proto::base64_encode(plain.as_bytes()), encoded);
        assert_eq!(
            proto::base64_decode(encoded.as_bytes()).unwrap(),
            plain.as_bytes()
        );
    }
}
