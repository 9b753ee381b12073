using System.Text.Json.Serialization;

namespace M3ter.Auth.Internal;

/// <summary>Source-generated (reflection-free, trimming-safe) reading of the token endpoint's error bodies.</summary>
[JsonSourceGenerationOptions(GenerationMode = JsonSourceGenerationMode.Metadata)]
[JsonSerializable(typeof(ErrorResponse))]
internal sealed partial class M3terJsonContext : JsonSerializerContext
{
}
