/// A loss that became NaN or infinite (prompt and edit stages), or a model the task cannot be framed for
/// (prompt, collect, edit and audit).
public enum TrainingError: Error, CustomStringConvertible {
    case nonFiniteLoss(stage: String, step: Int, epoch: Int)
    case framing(String)

    public var description: String {
        switch self {
        case .nonFiniteLoss(let stage, let step, let epoch):
            return "\(stage): the loss became NaN or infinite at epoch \(epoch), step \(step + 1); " +
                "lower \(stage).learning_rate and run again."
        case .framing(let detail): return detail
        }
    }
}
