using Microsoft.Extensions.Options;

namespace Transport.WebSockets.DependencyInjection;

/// <summary>
/// The Options-pattern face of <see cref="TransportOptionsValidation.Validate"/>, so bound
/// configuration fails with the same rules and messages as the builder. One per registered name.
/// </summary>
internal sealed class TransportOptionsValidator(string name) : IValidateOptions<TransportOptions>
{
    public ValidateOptionsResult Validate(string? optionsName, TransportOptions options)
    {
        if (!string.Equals(optionsName, name, StringComparison.Ordinal))
        {
            return ValidateOptionsResult.Skip;
        }

        var errors = TransportOptionsValidation.Validate(options);
        return errors.Count == 0
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(errors.Select(e => $"WebSocket transport '{name}': {e}"));
    }
}
