using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading;
using CsCheck;
using M3ter.Auth.Testing.Internal;
using M3ter.Auth.Tests.Properties;
using Xunit.Abstractions;

namespace M3ter.Auth.Testing.Tests.Properties;

/// <summary>
/// The emulator's measurement validation against a model of m3ter's rules (M3TER.md, ingest): a body is accepted
/// exactly when it is an object with 1 to 1000 measurements, each an object with non-blank string uid, meter, account
/// and an ISO 8601 ts, whose measure/cost/income/other hold only numbers and what/where/who only strings; otherwise the
/// first bad measurement is the one named. Accepted measurements come back in order, with their uid and time.
/// </summary>
public sealed class MeasurementValidationProperties(ITestOutputHelper output)
{
    private int _validBodies;

    private static readonly DateTimeOffset ReceivedAt = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    // A value and whether m3ter's rule for that field accepts it.
    private static readonly Gen<(string Json, bool Valid)> RequiredText = Gen.Frequency(
        (20, Gen.String[Gen.Char.AlphaNumeric, 1, 20].Select(s => (Quote(s), true))),
        (10, Gen.String.Where(s => !string.IsNullOrWhiteSpace(s)).Select(s => (Quote(s), true))),
        (1, Gen.OneOf(("\"\"", false), ("\"   \"", false), ("\"\\t\"", false), ("1", false), ("null", false), ("true", false), ("[]", false), ("{}", false))));

    private static readonly Gen<(string Json, bool Valid)> Timestamp = Gen.Frequency(
        (10, Gen.DateTimeOffset.Select(t => (Quote(t.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)), true))),
        (3, Gen.OneOf(
            ("\"2026-11-28T12:00:00Z\"", true), ("\"2026-11-28T12:00Z\"", true), ("\"2026-11-28T12:00:00.123456789+01:00\"", true),
            ("\"2026-11-28T12:00:00\"", true), ("\"2026-11-28T12:00:00-05:30\"", true),
            ("\"2026-11-28\"", false), ("\"2026-11-28 12:00:00Z\"", false), ("\"2026-13-01T00:00:00Z\"", false), ("\"2026-02-30T00:00Z\"", false),
            ("\"2026-11-28T25:00:00Z\"", false), ("\"yesterday\"", false), ("\"1764331200\"", false), ("1764331200", false), ("\"\"", false),
            ("\"2026-11-28T12:00:00.1234567890Z\"", false), ("\"2026-11-28T12:00:00z\"", false), ("\"2026-11-28T12:00:00+0100\"", false))));

    private static readonly Gen<(string Json, bool Valid)> Numbers = Gen.Frequency(
        (10, Gen.Double.Where(double.IsFinite).Array[0, 3].Select(values => (Object(values.Select(v => v.ToString("R", CultureInfo.InvariantCulture))), true))),
        (1, Gen.OneOf(("{\"x\":\"1\"}", false), ("{\"x\":null}", false), ("[1]", false), ("1", false), ("{\"x\":{}}", false), ("{\"a\":1,\"b\":true}", false))));

    private static readonly Gen<(string Json, bool Valid)> Texts = Gen.Frequency(
        (10, Gen.String[Gen.Char.AlphaNumeric, 0, 8].Array[0, 3].Select(values => (Object(values.Select(Quote)), true))),
        (1, Gen.OneOf(("{\"x\":1}", false), ("{\"x\":null}", false), ("[\"a\"]", false), ("\"a\"", false), ("{\"a\":\"b\",\"c\":[]}", false))));

    // One measurement: each field absent or present with a value, and whether m3ter accepts the whole.
    private static readonly Gen<(string Json, bool Valid, string? Uid)> Measurement =
        Gen.Select(
            Gen.Select(Optional(RequiredText, 0.05), Optional(RequiredText, 0.05), Optional(RequiredText, 0.05), Optional(Timestamp, 0.05)),
            Gen.Select(Optional(Numbers, 0.6), Optional(Numbers, 0.8), Optional(Texts, 0.6), Optional(Texts, 0.8)),
            Gen.Frequency((40, ""), (1, "1"), (1, "\"m\""), (1, "[]"), (1, "null")),
            (required, optional, notAnObject) =>
            {
                if (notAnObject.Length > 0)
                {
                    return (notAnObject, false, null);
                }

                var fields = new List<string>();
                bool valid = true;
                void Field(string name, (string Json, bool Valid)? value, bool requiredField)
                {
                    if (value is (string json, bool ok))
                    {
                        fields.Add(Quote(name) + ":" + json);
                        valid &= ok;
                    }
                    else
                    {
                        valid &= !requiredField;
                    }
                }

                Field("uid", required.Item1, true);
                Field("meter", required.Item2, true);
                Field("account", required.Item3, true);
                Field("ts", required.Item4, true);
                Field("measure", optional.Item1, false);
                Field("cost", optional.Item2, false);
                Field("what", optional.Item3, false);
                Field("who", optional.Item4, false);
                string? uid = required.Item1 is (string u, true) ? JsonSerializer.Deserialize(u, EmulatorJsonTest.Default.String) : null;
                return ("{" + string.Join(",", fields) + "}", valid, uid);
            });

    [Fact]
    public void Validate_AcceptsExactlyWhatTheModelAccepts_AndNamesTheFirstBadMeasurement()
    {
        Gen.Frequency((3, Measurement.Array[1, 1]), (3, Measurement.Array[1, 8]), (1, Measurement.Array[0, 0]), (1, Measurement.Array[1001, 1003])).Run(measurements =>
        {
            string body = "{\"measurements\":[" + string.Join(",", measurements.Select(m => m.Json)) + "]}";
            using JsonDocument document = JsonDocument.Parse(body);

            string? problem = MeasurementValidation.Validate(document.RootElement, ReceivedAt, out List<M3terMeasurement> accepted);

            int firstBad = Array.FindIndex(measurements, m => !m.Valid);
            if (measurements.Length is < 1 or > 1000)
            {
                Assert.NotNull(problem);
                Assert.Contains("1 to 1000 measurements", problem, StringComparison.Ordinal);
            }
            else if (firstBad < 0)
            {
                Interlocked.Increment(ref _validBodies);
                Assert.True(problem is null, problem);
                Assert.Equal(measurements.Select(m => m.Uid), accepted.Select(a => a.Uid));
            }
            else
            {
                Assert.NotNull(problem);
                Assert.StartsWith($"measurements[{firstBad}]", problem, StringComparison.Ordinal);
            }
        }, output, 2_000, m => $"{m.Length} measurements: " + string.Join(" ", m.Take(12).Select(x => $"{(x.Valid ? "ok" : "BAD")} {x.Json}")));

        // Not vacuous: the generator reaches bodies m3ter accepts, not only ones it refuses.
        Assert.True(_validBodies > 200, $"only {_validBodies} of 2,000 generated bodies were valid");
    }

    [Fact]
    public void ValidateBody_OfAnyJson_IsAProblemOrAcceptance_NeverAnException() =>
        Gen.OneOf(
                Gen.String.Select(text => JsonSerializer.Serialize(text, EmulatorJsonTest.Default.String)),
                Gen.OneOf("\"\\ud800\"", "\"\\udc00x\"", "\"a\\ud83d\"", "\"\\u0000\"", "\"\\uffff\"", "1e999", "-0", "null", "{}", "[]"),
                Gen.OneOf("{\"measurements\":", "[]", "{\"measurements\":{}}", "{\"measurements\":[{\"uid\":1}]}"))
            .Select(json => (json, Wrap: "{\"measurements\":[{\"uid\":" + json + ",\"meter\":" + json + ",\"account\":\"a\",\"ts\":" + json + ",\"what\":{\"k\":" + json + "}," + json + ":1}]}"))
            .Run(input =>
            {
                foreach (string body in new[] { input.json, input.Wrap })
                {
                    _ = MeasurementValidation.ValidateBody(Encoding.UTF8.GetBytes(body), ReceivedAt, out _);
                }
            }, output, 5_000);

    private static Gen<(string Json, bool Valid)?> Optional(Gen<(string Json, bool Valid)> value, double absent) =>
        Gen.Select(Gen.Double.Unit, value, (r, v) => r < absent ? ((string Json, bool Valid)?)null : v);

    private static string Object(IEnumerable<string> values) => "{" + string.Join(",", values.Select((v, i) => Quote("k" + i) + ":" + v)) + "}";

    private static string Quote(string s) => JsonSerializer.Serialize(s, EmulatorJsonTest.Default.String);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class EmulatorJsonTest : System.Text.Json.Serialization.JsonSerializerContext;
