/// Wang et al. (2022)'s predictivity of a neuron for a binary label: with the threshold θ the neuron's
/// mean activation on the training split, the accuracy of "activation > θ" as a predictor of label 1,
/// measured on the dev split, scored as |accuracy − ½| (a neuron that fires for label 0 is as predictive).
public enum Predictivity {
    /// - activations, labels: the dev split; labels are 0 or 1.
    public static func accuracy(activations: [Double], labels: [Double], threshold: Double) -> Double {
        precondition(activations.count == labels.count && !labels.isEmpty, "Predictivity: mismatched or empty columns")
        var right = 0
        for i in activations.indices where (activations[i] > threshold) == (labels[i] == 1) { right += 1 }
        return Double(right) / Double(labels.count)
    }

    public static func score(activations: [Double], labels: [Double], threshold: Double) -> Double {
        abs(accuracy(activations: activations, labels: labels, threshold: threshold) - 0.5)
    }

    /// The accuracy from the product b·y of the 0/1 indicator column b with the labels y, which is how the
    /// permutation test gets every permutation's accuracy from one matrix product:
    /// acc = (Σ b·y + Σ (1 − b)(1 − y)) / n = (2·b·y − Σb − Σy + n) / n.
    public static func accuracy(product: Double, firing: Double, positives: Double, examples n: Double) -> Double {
        (2 * product - firing - positives + n) / n
    }

    /// Whether a metric column is a binary label (every value 0 or 1).
    public static func isBinary(_ values: [Double]) -> Bool { values.allSatisfy { $0 == 0 || $0 == 1 } }
}
